"""`gnomon serve` (API, console and scheduler) and `gnomon api` (API only) on gunicorn.

Every worker process serves the API and, with `serve`, runs its own scheduler: the store's lease
lets exactly one of them fire. Schedulers start in gunicorn's post-fork hook, never in the master
(threads and store connections do not survive a fork), and stop in the worker-exit hook, giving
up the lease at once.

With several workers their metrics are kept in a directory they share (prometheus_client's
multiprocess mode), so /metrics shows the whole server whichever worker answers. That mode is
chosen when prometheus_client is first imported, so the master sets it up before importing the
API; the API and the metrics are imported in the workers only.

Logging is set up in the master, before the workers are forked, from `[logging]`; gunicorn's own
lines (its error log) go to the same handler, so they are text or JSON like every other line.
The access log is the app's (api/requestlog.py), which knows the request id and the user.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import tempfile
from typing import TYPE_CHECKING, Any

import click
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from gunicorn.glogging import Logger as GunicornLogger  # type: ignore[import-untyped]

from gnomon.cli.options import (
    config_option,
    config_path,
    handle_errors,
    log_level_option,
    start_logging,
)
from gnomon.cli.scheduler import announce_first_admin
from gnomon.services.runtime import Runtime

if TYPE_CHECKING:
    from flask import Flask

    from gnomon.engine.metrics import EngineMetrics

log = logging.getLogger(__name__)

THREADS = 4  # requests served at once by each worker
# How long an idle keep-alive connection stays open. gunicorn's own 2 s races clients that reuse a
# connection after a pause of about that long: a request sent as the server closes is reset, and
# a POST is not retried. Longer than the 60 s idle timeout of common proxies and load balancers,
# so that they close first; an idle connection costs a selector entry, not a thread.
KEEPALIVE_SECONDS = 75
#: prometheus_client's switch to multiprocess mode (engine/metrics.py reads it too).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class RoutedGunicornLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger, its error log handed to the root logger's handler (gnomon's format)
    instead of a handler of its own. gunicorn's access log stays off: the app writes one."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True


class GnomonServer(BaseApplication):  # type: ignore[misc]
    """gunicorn, configured in code (not from sys.argv), with gnomon's hooks."""

    def __init__(
        self,
        config: str | None,
        *,
        bind: str,
        workers: int,
        with_scheduler: bool,
        shutdown_grace: float,
        log_level: str,
    ) -> None:
        self.config_source = config
        self.options: dict[str, Any] = {
            "bind": [bind],
            "workers": workers,
            "worker_class": "gthread",
            "threads": THREADS,
            "keepalive": KEEPALIVE_SECONDS,
            # A stopping worker waits for its scheduler's running jobs (shutdown_grace).
            "graceful_timeout": math.ceil(shutdown_grace) + 10,
            "timeout": max(30, math.ceil(shutdown_grace) + 10),
            "loglevel": log_level,
            "logger_class": RoutedGunicornLogger,
            "proc_name": "gnomon",
            # gunicorn answers longer request lines itself, in HTML, not in the API's envelope;
            # 8190 (its maximum) leaves room for a 512-character cursor percent-encoded.
            "limit_request_line": 8190,
            # gunicorn would take the scheme from X-Forwarded-Proto of local peers on its own;
            # server.trusted_proxies (the app's ProxyFix) alone decides which headers count.
            "forwarded_allow_ips": "",
            "post_fork": self._post_fork,
            "worker_exit": self._worker_exit,
        }
        if workers > 1:
            self.options["child_exit"] = self._child_exit
        self.with_scheduler = with_scheduler
        self.runtime: Runtime | None = None
        self.metrics: EngineMetrics | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn's control socket lives at one path per user: two servers would collide.
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Flask:
        """Called in each worker after the post-fork hook: the app on that worker's runtime."""
        from gnomon.api import create_app
        from gnomon.web import register_console

        assert self.runtime is not None, "post_fork builds the runtime first"
        app = create_app(self.runtime, metrics=self.metrics)
        register_console(app)
        return app

    def _post_fork(self, _server: Any, worker: Any) -> None:
        from gnomon.engine.metrics import EngineMetrics

        runtime = Runtime.from_config_file(self.config_source)
        self.metrics = EngineMetrics()
        self.runtime = runtime
        if self.with_scheduler:
            scheduler = runtime.start_scheduler(metrics=self.metrics, own_process=True)
            log.info("worker %s runs scheduler node %s", worker.pid, scheduler.node_id)

    def _worker_exit(self, _server: Any, _worker: Any) -> None:
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None

    def _child_exit(self, _server: Any, worker: Any) -> None:
        """In the master: a dead worker's live gauges (leader, queue depth) no longer count."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def _prepare(config: str | None, log_level: str | None) -> tuple[Runtime, str]:
    """In the master, before any fork: set up logging, migrate the store and create the first
    admin. Returns the runtime and the level logged."""
    runtime = Runtime.from_config_file(config)
    level = start_logging(runtime.config.settings.logging, log_level)
    runtime.prepare_store()
    announce_first_admin(runtime)
    return runtime, level


def _run(
    bind: str | None, workers: int | None, log_level: str | None, with_scheduler: bool
) -> None:
    config = config_path()
    runtime, level = _prepare(config, log_level)
    settings = runtime.config.settings
    runtime.close()  # nothing of the master's store may be shared with the workers
    server = GnomonServer(
        config,
        bind=bind or settings.server.bind,
        workers=workers or settings.server.workers,
        with_scheduler=with_scheduler,
        shutdown_grace=settings.scheduler.shutdown_grace,
        log_level=level,
    )
    what = "console, API and scheduler" if with_scheduler else "console and API (no scheduler)"
    click.echo(f"gnomon serving the {what} on http://{server.options['bind'][0]}", err=True)
    if server.options["workers"] == 1:
        server.run()
        return
    shared = _share_metrics()
    try:
        server.run()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _share_metrics() -> str:
    """A fresh directory for the workers' metrics, announced to prometheus_client (which must
    not have been imported yet: it reads the setting once, at import)."""
    assert "prometheus_client" not in sys.modules, "imported before its multiprocess setting"
    shared = tempfile.mkdtemp(prefix="gnomon-metrics-")
    os.environ[MULTIPROC_ENV] = shared
    return shared


def _check_bind(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter("must be HOST:PORT, e.g. 127.0.0.1:8080")
    return value


bind_option = click.option(
    "--bind",
    metavar="HOST:PORT",
    callback=_check_bind,
    help="Address to listen on (default: server.bind, or $GNOMON_SERVER_BIND).",
)
workers_option = click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Worker processes (default: server.workers).",
)


@click.command("serve")
@config_option
@bind_option
@workers_option
@log_level_option
@handle_errors
def serve_command(bind: str | None, workers: int | None, log_level: str | None) -> None:
    """Serve the API and the console, and run the scheduler, until SIGINT or SIGTERM.

    Safe with several workers: each one runs a scheduler and only the lease holder fires.
    """
    _run(bind, workers, log_level, with_scheduler=True)


@click.command("api")
@config_option
@bind_option
@workers_option
@log_level_option
@handle_errors
def api_command(bind: str | None, workers: int | None, log_level: str | None) -> None:
    """Serve the API only; jobs are fired by a scheduler running elsewhere."""
    _run(bind, workers, log_level, with_scheduler=False)
