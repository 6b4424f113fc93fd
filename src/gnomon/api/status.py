"""Scheduler status (never 409) and the unauthenticated /healthz, /readyz and /metrics."""

from __future__ import annotations

import os
import socket
from typing import Any

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gnomon import __version__
from gnomon.api import schemas as s
from gnomon.api.access import VIEW, require
from gnomon.api.envelope import success
from gnomon.api.openapi import PUBLIC, document
from gnomon.api.state import state
from gnomon.errors import StoreError, StoreNotReady
from gnomon.services.documents import iso

bp = Blueprint("status", __name__, url_prefix="/api/v1/scheduler")
health = Blueprint("health", __name__)


def process_node_id() -> str:
    """This API process's id when it runs no scheduler (a scheduler has its own node id)."""
    return f"{socket.gethostname()}-{os.getpid()}-api"


def status_document() -> dict[str, Any]:
    st = state()
    runtime = st.runtime
    status = st.status.get_status()
    nodes = [
        {
            "id": node.id,
            "host": node.host,
            "pid": node.pid,
            "started_at": iso(node.started_at),
            "last_seen": iso(node.last_seen),
            "is_leader": node.id == status.leader,
            "roles": list(node.roles),
            "queues": list(node.queues),
            "concurrency": node.concurrency,
        }
        for node in status.nodes
    ]
    return {
        "running": status.running,
        "node": runtime.scheduler.node_id if runtime.scheduler is not None else st.node_id,
        "leader": status.leader,
        "nodes": nodes,
        "version": __version__,
        "uptime_s": st.uptime_s,
        "jobs": {
            "total": status.jobs.total,
            "paused": status.jobs.paused,
            "running": status.jobs.running,
        },
    }


@bp.get("/status")
@document(s.StatusEnvelope, errors=(401,), tag="status")
@require(VIEW)
def scheduler_status() -> Response:
    """Whether a scheduler is live, who leads, the nodes and job counts; never 409."""
    return success(status_document())


@health.get("/healthz")
@document(s.HealthEnvelope, security=PUBLIC, tag="status")
def healthz() -> Response:
    """The process is alive."""
    return success({"status": "ok"})


@health.get("/readyz")
@document(s.HealthEnvelope, errors=(503,), security=PUBLIC, tag="status")
def readyz() -> Response:
    """The store is reachable and migrated; 503 STORE_NOT_READY otherwise. `degraded` (still
    200: the API works) while a background thread of this process's scheduler is down, or
    while the Celery broker it sends runs to could not be reached at its last send."""
    st = state()
    try:
        st.status.check_ready()
    except StoreError:
        raise
    except Exception as exc:
        raise StoreNotReady(type(exc).__name__) from exc
    scheduler = st.runtime.scheduler
    down = scheduler.threads_down() if scheduler is not None else []
    broker_down = scheduler is not None and scheduler.broker_unreachable()
    if down or broker_down:
        found: dict[str, object] = {"status": "degraded", "threads_down": down}
        if broker_down:
            found["broker"] = "unreachable"
        return success(found)
    return success({"status": "ready"})


@health.get("/metrics")
@document(None, security=PUBLIC, tag="status")
def metrics() -> Response:
    """Prometheus text format: the engine's metrics and the number of registered nodes."""
    st = state()
    st.metrics.set_nodes(len(st.status.list_nodes()))
    return Response(st.metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
