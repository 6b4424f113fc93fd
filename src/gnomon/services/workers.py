"""`gnomon worker`: a Celery worker that executes gnomon runs sent through the broker."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gnomon.config import check_queue
from gnomon.engine.celery_app import celery_app, register_task, worker_consumer
from gnomon.engine.executors import install_output_routing, uninstall_output_routing
from gnomon.engine.executors.process import preload_in_forkserver
from gnomon.engine.listener import libpq_url
from gnomon.engine.worker import RunWorker, worker_node_id
from gnomon.errors import ConfigInvalid, Problem, ValidationFailed
from gnomon.services.runtime import Runtime

log = logging.getLogger(__name__)


def worker_queues(text: str) -> list[str]:
    """The queues of `--queues a,b`, each checked; raises ValidationFailed naming the option."""
    queues = [name.strip() for name in text.split(",") if name.strip()]
    problems = []
    if not queues:
        problems.append(Problem("--queues", "name at least one queue"))
    for name in queues:
        try:
            check_queue(name)
        except ValueError as exc:
            problems.append(Problem("--queues", str(exc)))
    if problems:
        raise ValidationFailed(problems)
    return list(dict.fromkeys(queues))


def run_worker(
    runtime: Runtime, queues: Sequence[str], concurrency: int, log_level: str = "info"
) -> None:
    """Register a worker node and consume `queues` with `concurrency` runs at once, until a
    stop signal (Celery's own: SIGTERM or SIGINT let running runs finish first)."""
    broker_url = runtime.config.settings.celery.broker_url
    if broker_url is None:
        raise ConfigInvalid(
            [Problem("celery.broker_url", "gnomon worker needs the broker to take runs from")]
        )
    app = celery_app(broker_url)  # first: says so if Celery is not installed
    # A worker waits for a broker that went away however long it is away, trying every 2 s.
    app.conf.broker_connection_max_retries = None
    runtime.store.check_ready()
    runtime.extend_python_path()
    preload_in_forkserver()
    node_id = worker_node_id()
    worker = RunWorker(
        runtime.store,
        node_id=node_id,
        queues=queues,
        concurrency=concurrency,
        lease_ttl=runtime.config.settings.scheduler.lease_ttl,
        changes_dsn=libpq_url(runtime.config.store_url),  # cancel requests heard at once
    )
    register_task(app, worker.execute)
    install_output_routing()
    worker.start()
    log.info("worker %s takes runs from queue(s) %s", node_id, ", ".join(queues))
    try:
        consumer = app.Worker(
            hostname=f"{node_id}@gnomon",
            queues=list(queues),
            concurrency=concurrency,
            pool="threads",
            loglevel=log_level.upper(),
            quiet=True,
            # gnomon nodes beat through the store; Celery's own chatter between workers is
            # not needed (and off with remote control and events).
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            consumer_cls=worker_consumer(),
        )
        consumer.start()
    finally:
        worker.stop()
        uninstall_output_routing()
        app.close()
