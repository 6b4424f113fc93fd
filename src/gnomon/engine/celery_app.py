"""The Celery app gnomon sends runs through and `gnomon worker` consumes them with.

Built explicitly from the broker URL, never at import (Celery itself is imported only here and
only when a broker is configured). One task, TASK_NAME, whose only argument is a run id: the
run's job, its arguments and its state are all read from the store by the worker.

Delivery settings: a message is acknowledged only once its run has ended (`acks_late`), and
put back when the worker executing it is lost (`reject_on_worker_lost`), so a message is never
dropped with its worker; each worker takes one message at a time per slot (prefetch multiplier
1), so a busy worker does not hold runs another could start. Running a fire at most once is the
store's guarantee, not the broker's (see Store.start_on_worker).
"""

from __future__ import annotations

import functools
import logging
import select
import time
from collections.abc import Callable
from typing import Any

from gnomon.domain import DEFAULT_QUEUE
from gnomon.errors import ConfigInvalid, Problem, StoreError

log = logging.getLogger(__name__)

#: The task every message names.
TASK_NAME = "gnomon.execute_run"
#: How long connecting to the broker may take before a publish fails (and is tried again).
CONNECT_TIMEOUT = 2.0
#: How long a send waits on the broker (RabbitMQ), for each answer it reads (the confirm, a
#: channel opened, a queue declared) and each write, before it fails: a broker that took the
#: message and went silent (hung, cut off just after the write, or not reading during an alarm)
#: must not hold the sending thread for good. The connection is then dropped (forget_connection).
SEND_TIMEOUT = 10.0
#: How long reconnect_if_closed reads what the broker sent on an idle connection.
CLOSED_CHECK_WAIT = 0.05
#: How long a worker waits before handing back a run it could not start for want of the store.
STORE_RETRY = 1.0
#: A worker's pauses between attempts to reach a broker that went away: the first, growing by
#: the step up to the longest, for as long as it is away (Celery's own grow from 2 s to 30 s,
#: so a worker could come back half a minute after its broker, past the grace of the runs the
#: leader sent meanwhile).
RECONNECT_FIRST = 0.5
RECONNECT_STEP = 0.5
RECONNECT_LONGEST = 2.0


def new_app(
    name: str,
    broker_url: str,
    *,
    needed_by: str,
    result_backend: str | None = None,
    confirm: bool = True,
    send_timeout: float | None = None,
) -> Any:
    """A bare Celery app on `broker_url` that sends reliably: a publish that returns was taken
    by the broker (publisher confirms on RabbitMQ; `confirm` False: none, for best-effort
    broadcasts, which pass no confirm timeout), and connecting gives up after CONNECT_TIMEOUT.
    `send_timeout`: for an app that only sends, the longest its RabbitMQ connections wait on
    one read or write (none for an app that consumes: it waits for messages). Raises
    ConfigInvalid, saying that `needed_by` needs Celery, when Celery is not installed."""
    try:
        from celery import Celery  # type: ignore[import-untyped]
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("celery", "kombu", "redis"):
            raise
        message = f"{needed_by} needs Celery: pip install 'gnomon[celery]'"
        raise ConfigInvalid([Problem("celery.broker_url", message)]) from exc
    app = Celery(name, broker=broker_url, backend=result_backend, set_as_current=False)
    transport: dict[str, Any] = {}
    if broker_url.startswith(("amqp", "pyamqp")):
        # The broker confirms every message it has taken: a publish that returns was received.
        transport["confirm_publish"] = confirm
        if send_timeout is not None:
            # py-amqp's socket timeouts: every wait for an answer, and every write, is bounded.
            transport["read_timeout"] = transport["write_timeout"] = send_timeout
    else:
        transport["socket_connect_timeout"] = CONNECT_TIMEOUT
        transport["socket_timeout"] = CONNECT_TIMEOUT * 5
    app.conf.update(
        broker_connection_timeout=CONNECT_TIMEOUT,
        broker_transport_options=transport,
        task_create_missing_queues=True,
        enable_utc=True,
    )
    return app


def celery_app(broker_url: str, *, send_timeout: float | None = None) -> Any:
    """A Celery app on `broker_url` with gnomon's delivery settings (no task registered);
    `send_timeout`: see new_app (given for an app that only sends). Raises ConfigInvalid when
    Celery is not installed."""
    app = new_app("gnomon", broker_url, needed_by="the Celery executor", send_timeout=send_timeout)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=DEFAULT_QUEUE,
        broker_connection_retry_on_startup=True,
        # gnomon's logging and output capture stay as gnomon set them up.
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        # Nothing but runs travels through the broker: no events, no remote control.
        worker_send_task_events=False,
        worker_enable_remote_control=False,
    )
    return app


def worker_consumer() -> Any:
    """Celery's worker consumer, trying to reach its broker again every RECONNECT_LONGEST at
    most while it is away (for `app.Worker(consumer_cls=...)`, with the app's
    `broker_connection_max_retries` None: for as long as it is away)."""
    from celery.worker.consumer import Consumer  # type: ignore[import-untyped]

    class GnomonConsumer(Consumer):  # type: ignore[misc]
        def ensure_connected(self, conn: Any) -> Any:
            conn.ensure_connection = functools.partial(
                conn.ensure_connection,
                interval_start=RECONNECT_FIRST,
                interval_step=RECONNECT_STEP,
                interval_max=RECONNECT_LONGEST,
            )
            return super().ensure_connected(conn)

    return GnomonConsumer


def register_task(app: Any, execute: Callable[[str], object]) -> None:
    """Register the task that executes one run, by id, with `execute(run_id)`. While the store
    cannot be reached, the message goes back to the queue (after a pause) rather than being
    acknowledged unhandled."""
    from celery.exceptions import Reject  # type: ignore[import-untyped]

    def execute_run(run_id: str) -> None:
        try:
            execute(run_id)
        except StoreError as exc:
            log.warning("store unreachable; run %s goes back to the queue: %s", run_id, exc)
            time.sleep(STORE_RETRY)
            raise Reject(str(exc), requeue=True) from exc

    app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(
        execute_run
    )


def reconnect_if_closed(producer: Any) -> None:
    """Before a send that must not be repeated: when the broker has closed the connection
    `producer` (a pooled kombu Producer) holds (it restarted, or an operator closed it), connect
    again first, so that the send is not written into a dead connection and lost.

    Writing into a connection the broker already closed fails only afterwards, while waiting for
    the broker's confirm, exactly as a send the broker took just before it went away would; only
    a check made before writing tells the two apart. On RabbitMQ (py-amqp) an idle producer's
    connection is sent nothing unasked (no heartbeats, confirms waited for at each send): what
    can be read on it is the broker's close (read here, and raising), its end, or a notice such
    as connection.blocked (read here, and harmless). Redis's client checks the connections it
    hands out itself."""
    connection = producer.connection
    raw = getattr(connection, "_connection", None)
    sock = None if raw is None else getattr(raw, "sock", None)
    if raw is None or sock is None:
        return  # not connected yet, or not py-amqp: nothing to check
    waiting = select.poll()
    waiting.register(sock, select.POLLIN)
    if not waiting.poll(0):
        return
    try:
        # A short wait, not 0: py-amqp spins on a frame that has only partly arrived when its
        # socket does not block.
        raw.drain_events(timeout=CLOSED_CHECK_WAIT)
        return
    except TimeoutError:
        return
    except (*connection.connection_errors, *connection.channel_errors) as exc:
        log.info("the broker had closed the connection to send on (%s); connecting again", exc)
    connection.collect()  # forget the dead connection, without writing to it
    producer.revive(connection.default_channel)  # a new connection and channel


def forget_connection(producer: Any) -> None:
    """After a send that failed: drop the connection `producer` sent on, without a word to the
    broker (closing would wait for its answer). It may be mid-exchange: a confirm that timed out
    can still arrive, and would pass for the confirm of the next message sent on it; a frame may
    be half read. The pool hands the producer a new connection at its next use."""
    producer.connection.collect()


class CeleryPublisher:
    """Sends run ids to queues; a broker that cannot be reached raises, never blocks long."""

    def __init__(self, broker_url: str, *, send_timeout: float = SEND_TIMEOUT) -> None:
        self._app = celery_app(broker_url, send_timeout=send_timeout)
        self._send_timeout = send_timeout

    def publish(self, run_id: str, queue: str) -> None:
        """Send run `run_id` to `queue`; raises when the broker did not take it, or did not
        answer in time (a duplicate sent later is harmless: a worker starts a run once)."""
        with self._app.producer_or_acquire() as producer:
            try:
                self._app.send_task(
                    TASK_NAME,
                    args=[run_id],
                    queue=queue,
                    retry=False,
                    producer=producer,
                    confirm_timeout=self._send_timeout,
                )
            except Exception:
                forget_connection(producer)
                raise

    def check(self) -> None:
        """Raise unless the broker can be reached now."""
        with self._app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)

    def close(self) -> None:
        self._app.close()
