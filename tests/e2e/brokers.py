"""The machine's RabbitMQ and Redis as brokers for one test, and `gnomon worker` processes.

Each test gets its own RabbitMQ virtual host (made with rabbitmqctl, deleted after) or its own
Redis queue names, so tests running at once, and anything else on the same servers, never take
each other's messages.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.components import missing

RABBIT = "amqp://guest:guest@127.0.0.1:5672"
REDIS = "redis://127.0.0.1:6379"
#: The Redis database the tests send through (their queue names are their own).
REDIS_DB = 11


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def require_broker(kind: str) -> None:
    """Fail (or, if GNOMON_TEST_ALLOW_SKIP names it, skip) the test when the broker is not
    answering on this machine, saying so."""
    port = 5672 if kind == "rabbitmq" else 6379
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError as exc:
        missing(
            kind,
            f"{kind} is not answering on 127.0.0.1:{port} ({exc})",
            f"Start {kind} (`.ci/run` starts it)",
        )


@contextmanager
def broker(kind: str, queues: list[str]) -> Iterator[str]:
    """A broker URL of `kind` ("rabbitmq" or "redis") for one test sending to `queues`; what
    the test left there is removed after."""
    require_broker(kind)
    if kind == "rabbitmq":
        vhost = unique("gnomon_test")
        _rabbitmqctl("add_vhost", vhost)
        try:
            _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            yield f"{RABBIT}/{vhost}"
        finally:
            _rabbitmqctl("delete_vhost", vhost)
        return
    url = f"{REDIS}/{REDIS_DB}"
    try:
        yield url
    finally:
        import redis

        client = redis.Redis.from_url(url)
        # The queues, and the bindings kombu keeps of each (its exchange has the queue's name).
        for queue in queues:
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()


class WorkerProcess:
    """`python -m gnomon worker --config PATH --queues … --concurrency N`, logging to a file."""

    def __init__(self, config: Path, log: Path, queues: list[str], concurrency: int = 4) -> None:
        self.log_path = log
        env = dict(os.environ)
        env.pop("GNOMON_CONFIG", None)
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gnomon",
                "worker",
                "--config",
                str(config),
                "--queues",
                ",".join(queues),
                "--concurrency",
                str(concurrency),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    @property
    def node_id(self) -> str:
        """The node id it registers under (see gnomon.engine.worker.worker_node_id)."""
        import socket

        return f"{socket.gethostname()}-{self.proc.pid}-worker"

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (Celery's warm shutdown: running runs finish) and wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # not left running behind a failed test
            self.proc.wait(10)
            raise
        finally:
            self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and start again as an outage
    (the machine's brokers are shared with other tests). Its data is kept on disk (append-only
    file, written at every change) across a restart, as a real broker's would be."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("redis-server") is None:
            missing("redis", "redis-server is not installed", "Install Redis (`.ci/run` uses it)")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start it (again) on its port, and wait until it answers."""
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    failed = f"redis-server on port {self.port} did not start"
                    raise AssertionError(failed) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop it as a restart would (SIGTERM: it writes its data and exits)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory)
    try:
        yield server
    finally:
        server.stop()
