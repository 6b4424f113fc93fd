"""The HTTP API (/api/v1) as a Flask app built by `create_app`; importing it starts nothing."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from gnomon.api import (
    audit,
    deliveries,
    openapi,
    previews,
    runs,
    scheduler,
    stats,
    status,
    tokens,
    users,
)
from gnomon.api.auth import init_auth
from gnomon.api.envelope import add_request_id, request_id
from gnomon.api.errors import register_error_handlers
from gnomon.api.headers import add_nosniff
from gnomon.api.jsonprovider import OrjsonProvider
from gnomon.api.params import MAX_BODY
from gnomon.api.requestlog import init_request_log
from gnomon.api.secret import load_secret_key
from gnomon.api.state import EXTENSION, ApiState
from gnomon.config import ServerSettings
from gnomon.engine.metrics import EngineMetrics
from gnomon.services.audit import AuditService
from gnomon.services.login_throttle import HashSlots, LoginThrottle
from gnomon.services.runtime import Runtime
from gnomon.services.sessions import SessionPolicy
from gnomon.services.status import StatusService
from gnomon.services.tokens import TokenService

__all__ = ["MAX_BODY", "create_app"]


def create_app(
    runtime: Runtime,
    settings: ServerSettings | None = None,
    *,
    metrics: EngineMetrics | None = None,
) -> Flask:
    """The API app serving `runtime`; `settings` default to the runtime's `[server]` section.

    `metrics` are what /metrics shows: pass the ones given to the runtime's scheduler.
    Raises ConfigInvalid when the configured secret key is unusable.
    """
    settings = settings or runtime.config.settings.server
    app = Flask(__name__)
    # Werkzeug answers a path with an empty segment ("/tokens//1", or "/tokens/%2F1") with a
    # 308 to the merged path: an HTML answer outside the envelope, and a redirect that acts on
    # another resource than the one named. Such a path names nothing here: 404 NOT_FOUND.
    app.url_map.merge_slashes = False
    _trust_proxies(app, settings.trusted_proxies)
    app.config["SECRET_KEY"] = load_secret_key(settings, _data_dir(runtime))
    # One byte more than MAX_BODY, so that json_body can tell a chunked body cut at the limit
    # from one that ends there.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1
    provider = OrjsonProvider(app)
    provider.ensure_ascii = False
    provider.sort_keys = False
    app.json = provider
    app.extensions[EXTENSION] = ApiState(
        runtime=runtime,
        settings=settings,
        node_id=status.process_node_id(),
        tokens=TokenService(
            runtime.store, runtime.users, max_lifetime_days=settings.token_max_lifetime
        ),
        audit=AuditService(runtime.store),
        status=StatusService(runtime.store, runtime.jobs),
        metrics=metrics or EngineMetrics(),
        throttle=LoginThrottle(
            runtime.store,
            settings.login_max_failures,
            settings.login_window,
            max_client_failures=settings.login_max_client_failures,
        ),
        sessions=SessionPolicy(
            runtime.users,
            idle_timeout_s=settings.session_idle_timeout,
            max_lifetime_s=settings.session_max_lifetime,
        ),
        hash_slots=HashSlots(settings.login_max_concurrent_hashes),
    )
    init_request_log(app)  # first: its clock starts before, and its line comes after, the rest
    app.before_request(_begin_request)
    app.after_request(add_request_id)
    app.after_request(add_nosniff)
    register_error_handlers(app)
    init_auth(app, settings)
    blueprints = (scheduler.bp, runs.bp, stats.bp, previews.bp, status.bp, status.health, audit.bp)
    for blueprint in (*blueprints, deliveries.bp, tokens.bp, users.bp, openapi.bp):
        app.register_blueprint(blueprint)
    return app


def _trust_proxies(app: Flask, count: int) -> None:
    """Believe the last `count` X-Forwarded-For/-Proto/-Host values (one per proxy): the
    client's address, scheme and host as the proxies saw them. With 0, none is believed."""
    if count:
        wsgi = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
        app.wsgi_app = wsgi  # type: ignore[method-assign]


def _data_dir(runtime: Runtime) -> Path:
    data_dir = Path(runtime.config.settings.data_dir)
    return data_dir if data_dir.is_absolute() else runtime.config.base_dir / data_dir


def _begin_request() -> None:
    request_id()
    # Refuse an announced oversized body before any handler or check runs; bodies without a
    # Content-Length are cut at MAX_CONTENT_LENGTH when read.
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise RequestEntityTooLarge()
