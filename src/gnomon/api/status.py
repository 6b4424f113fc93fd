"""Scheduler status (never 409) and the unauthenticated probes /healthz and /readyz."""

from __future__ import annotations

import os
import socket
from typing import Any

from flask import Blueprint, Response

from gnomon import __version__
from gnomon.api.access import VIEW, require
from gnomon.api.envelope import success
from gnomon.api.state import state
from gnomon.domain import utcnow
from gnomon.engine.leadership import LEASE_NAME
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
    lease = runtime.store.find_lease(LEASE_NAME)
    leader = lease.holder if lease is not None and lease.expires_at > utcnow() else None
    views = runtime.jobs.list_jobs()
    nodes = [
        {
            "id": node.id,
            "host": node.host,
            "pid": node.pid,
            "started_at": iso(node.started_at),
            "last_seen": iso(node.last_seen),
            "is_leader": node.id == leader,
        }
        for node in runtime.store.list_nodes()
    ]
    return {
        "running": leader is not None,
        "node": runtime.scheduler.node_id if runtime.scheduler is not None else st.node_id,
        "leader": leader,
        "nodes": nodes,
        "version": __version__,
        "uptime_s": st.uptime_s,
        "jobs": {
            "total": len(views),
            "paused": sum(1 for view in views if view.record.paused),
            "running": sum(view.running for view in views),
        },
    }


@bp.get("/status")
@require(VIEW)
def scheduler_status() -> Response:
    """Whether a scheduler is live, who leads, the nodes and job counts; never 409."""
    return success(status_document())


@health.get("/healthz")
def healthz() -> Response:
    """The process is alive."""
    return success({"status": "ok"})


@health.get("/readyz")
def readyz() -> Response:
    """The store is reachable and migrated; 503 STORE_NOT_READY otherwise."""
    try:
        state().runtime.store.check_ready()
    except StoreError:
        raise
    except Exception as exc:
        raise StoreNotReady(type(exc).__name__) from exc
    return success({"status": "ready"})
