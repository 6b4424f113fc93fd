"""A broker that takes a message and never confirms it (hung, cut off just after the write, or
answering everything but the confirm): the send gives up after its confirm timeout instead of
holding the sending thread for good, and the next send goes out on a new connection, never on
the one left waiting for a lost answer; a revoke never waits for a confirm at all.

The broker is the real RabbitMQ, reached through a relay that, once told, stops passing on what
the broker sends back, or only its confirms."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from gnomon.domain import JobDefinition, JobKind, Run, RunStatus, TriggerSource, utcnow
from gnomon.engine.celery_app import CONNECT_TIMEOUT, CeleryPublisher
from gnomon.engine.celery_tasks import SendUncertain, TaskSender
from tests.e2e.brokers import broker, unique

BROKER = ("127.0.0.1", 5672)
SHORT_TIMEOUT = 1.0


def method(class_id: int, method_id: int) -> bytes:
    """How an AMQP method frame's payload begins: its class and method ids."""
    return class_id.to_bytes(2, "big") + method_id.to_bytes(2, "big")


BASIC_ACK = method(60, 80)  # a publisher confirm
CHANNEL_OPEN_OK = method(20, 11)
FRAME_METHOD = 1
FRAME_END = 8  # frame header (type, channel, size: 7 bytes) and end marker (1 byte)


class SilencingRelay:
    """A TCP relay to the broker that passes on what the broker sends frame by frame, and, when
    told, drops some: after `silence()` every frame on the connections open then (the broker is
    hung, or cut off); after `withhold(method)` the frames of that method on every connection,
    old and new (`withhold_confirms()`: Basic.Ack). `speak()` ends both for the frames that come
    after it."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._silent = threading.Event()
        self._withheld: frozenset[bytes] = frozenset()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    def silence(self) -> None:
        self._silent.set()

    def withhold(self, *methods: bytes) -> None:
        self._withheld = frozenset(methods)

    def withhold_confirms(self) -> None:
        self.withhold(BASIC_ACK)

    def speak(self) -> None:
        self._silent.clear()
        self._withheld = frozenset()

    def close(self) -> None:
        """Cut every connection (which ends the relay's threads) and stop listening."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            broker = socket.create_connection(BROKER)
            with self._lock:
                self._sockets += [client, broker]
            # A connection opened while silenced would never finish its handshake: silence
            # reaches the connections open when it began.
            silenced = self._silent.is_set()
            threading.Thread(target=self._pump, args=(client, broker), daemon=True).start()
            threading.Thread(
                target=self._pump_frames, args=(broker, client, silenced), daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while data := self._receive(source):
            if not self._send(sink, data):
                break
        self._cut(source, sink)

    def _pump_frames(self, source: socket.socket, sink: socket.socket, silenced: bool) -> None:
        buffered = b""
        dropping = False  # silenced while open: for good (its stream is then cut mid-answer)
        while data := self._receive(source):
            buffered += data
            while len(buffered) >= FRAME_END:
                size = FRAME_END + int.from_bytes(buffered[3:7], "big")
                if len(buffered) < size:
                    break
                frame, buffered = buffered[:size], buffered[size:]
                dropping = dropping or (not silenced and self._silent.is_set())
                withheld = frame[0] == FRAME_METHOD and frame[7:11] in self._withheld
                if dropping or withheld:
                    continue
                if not self._send(sink, frame):
                    self._cut(source, sink)
                    return
        self._cut(source, sink)

    @staticmethod
    def _cut(*sockets: socket.socket) -> None:
        """One side ended: end the other too, as a relay that forwards the close would."""
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _receive(source: socket.socket) -> bytes:
        try:
            return source.recv(65536)
        except OSError:
            return b""

    @staticmethod
    def _send(sink: socket.socket, data: bytes) -> bool:
        try:
            sink.sendall(data)
        except OSError:
            return False
        return True


@dataclass
class Relayed:
    relay: SilencingRelay
    url: str  # through the relay, on a virtual host of the test's own
    queue: str


@pytest.fixture
def relayed() -> Iterator[Relayed]:
    queue = unique("silent")
    with broker("rabbitmq", [queue]) as direct:  # the virtual host is removed after
        relay = SilencingRelay()
        try:
            url = direct.replace(f"{BROKER[0]}:{BROKER[1]}", f"127.0.0.1:{relay.port}")
            yield Relayed(relay, url, queue)
        finally:
            relay.close()


def _within(seconds: float, send: Callable[[], None]) -> BaseException | None:
    """Run `send` in a thread; what it raised (None: it returned). Fails the test when it is
    still blocked after `seconds`."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            send()
        except BaseException as exc:  # handed to the test
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"the send was still waiting for the broker after {seconds}s"
    return outcome[0]


@pytest.mark.parametrize("fault", ["silence", "withhold_confirms"])
def test_a_run_id_the_broker_never_confirms_fails_its_send_and_the_next_uses_a_new_connection(
    relayed: Relayed, fault: str
) -> None:
    relay, queue = relayed.relay, relayed.queue
    publisher = CeleryPublisher(relayed.url, send_timeout=SHORT_TIMEOUT)
    try:
        assert _within(10, lambda: publisher.publish("run-1", queue)) is None
        # Silence reaches the connections open now: run-2 goes on run-1's, the one the pool
        # hands back (it has no other).
        getattr(relay, fault)()
        began = time.monotonic()
        raised = _within(SHORT_TIMEOUT + 5, lambda: publisher.publish("run-2", queue))
        print(f"\nunconfirmed send failed after {time.monotonic() - began:.2f}s")
        assert raised is not None  # not confirmed: the dispatcher sends it again later
        # The confirm waited for, then an attempt at a new connection (the broker is silent).
        assert time.monotonic() - began < SHORT_TIMEOUT + CONNECT_TIMEOUT + 2
        relay.speak()
        # The connection left waiting for run-2's confirm is never written to again.
        assert _within(10, lambda: publisher.publish("run-3", queue)) is None
    finally:
        relay.speak()  # closing waits for the broker's answers
        publisher.close()


def test_a_send_waiting_for_any_other_answer_gives_up_as_well(relayed: Relayed) -> None:
    # A new connection's first send opens a channel (and declares the queue) before publishing:
    # each wait for the broker's answer is bounded, not only the confirm's.
    publisher = CeleryPublisher(relayed.url, send_timeout=SHORT_TIMEOUT)
    relayed.relay.withhold(CHANNEL_OPEN_OK)
    try:
        raised = _within(
            SHORT_TIMEOUT + CONNECT_TIMEOUT + 5, lambda: publisher.publish("run-a", relayed.queue)
        )
        assert raised is not None
        relayed.relay.speak()
        assert _within(10, lambda: publisher.publish("run-b", relayed.queue)) is None
    finally:
        relayed.relay.speak()  # closing waits for the broker's answers
        publisher.close()


def test_a_task_the_broker_never_confirms_is_an_uncertain_send_and_the_next_is_sent(
    relayed: Relayed,
) -> None:
    relay, queue = relayed.relay, relayed.queue
    sender = TaskSender(relayed.url, {}, send_timeout=SHORT_TIMEOUT)
    definition = JobDefinition(
        id="silent-task",
        name="silent-task",
        trigger={"type": "interval", "seconds": 60},
        kind=JobKind.CELERY_TASK,
        task="tests.never_run",
        queue=queue,
    )

    def run(number: int) -> Run:
        return Run(
            id=f"run-{number}-{uuid.uuid4().hex[:6]}",
            job_id=definition.id,
            trigger_source=TriggerSource.MANUAL,
            status=RunStatus.RUNNING,
            queued_at=utcnow(),
        )

    try:
        assert _within(10, lambda: sender.send(definition, run(1))) is None
        relay.silence()
        raised = _within(SHORT_TIMEOUT + 5, lambda: sender.send(definition, run(2)))
        # It may have reached the broker: the run is recorded as such, never sent again.
        assert isinstance(raised, SendUncertain)
        relay.speak()
        assert _within(10, lambda: sender.send(definition, run(3))) is None
    finally:
        relay.speak()  # closing waits for the broker's answers
        sender.close()


def test_a_revoke_does_not_wait_for_a_confirm_the_broker_withholds(relayed: Relayed) -> None:
    sender = TaskSender(relayed.url, {}, send_timeout=SHORT_TIMEOUT)
    relayed.relay.withhold_confirms()
    try:
        # A broadcast to the workers, best effort: sent on a connection of its own that waits
        # for no confirm (the tracker's thread sends it, and follows every task besides).
        assert _within(CONNECT_TIMEOUT + 5, lambda: sender.revoke("a-task-id")) is None
    finally:
        relayed.relay.speak()  # closing waits for the broker's answers
        sender.close()


def test_a_revoke_sent_without_a_confirm_still_reaches_the_apps_workers(relayed: Relayed) -> None:
    from celery.worker import state

    from tests.engine.test_celery_tasks import app_worker

    direct = relayed.url.replace(f"127.0.0.1:{relayed.relay.port}", f"{BROKER[0]}:{BROKER[1]}")
    task_id = f"revoked-{uuid.uuid4().hex[:8]}"
    sender = TaskSender(direct, {})
    try:
        with app_worker(direct, relayed.queue):
            sender.revoke(task_id)
            deadline = time.monotonic() + 10
            while task_id not in state.revoked and time.monotonic() < deadline:
                time.sleep(0.05)
            assert task_id in state.revoked  # the worker will not run it
    finally:
        sender.close()
