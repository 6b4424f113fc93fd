"""What the API keeps per app: the runtime, its services, the settings, the login throttle and
the password-hash slots."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from gnomon.config import ServerSettings
from gnomon.engine.metrics import EngineMetrics
from gnomon.services.audit import AuditService
from gnomon.services.documents import JobDocuments
from gnomon.services.login_throttle import HashSlots, LoginThrottle
from gnomon.services.runtime import Runtime
from gnomon.services.sessions import SessionPolicy
from gnomon.services.status import StatusService
from gnomon.services.tokens import TokenService
from gnomon.services.views import JobView

EXTENSION = "gnomon"


@dataclass
class ApiState:
    """Built by `create_app`; handlers reach it through `state()`."""

    runtime: Runtime
    settings: ServerSettings
    node_id: str
    tokens: TokenService
    audit: AuditService
    status: StatusService
    metrics: EngineMetrics
    throttle: LoginThrottle
    sessions: SessionPolicy
    hash_slots: HashSlots  # of this process (one app per server process)
    documents: JobDocuments = field(default_factory=JobDocuments)  # of this runtime's store
    # Per language and audience (admins see kwargs, viewers do not): the last job listing served
    # and its encoded documents.
    job_lists: dict[tuple[str, bool], tuple[tuple[JobView, ...], Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    openapi: dict[str, Any] | None = None  # built on first request, then kept

    @property
    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started, 3)


def state() -> ApiState:
    """The ApiState of the app handling the current request."""
    found = current_app.extensions[EXTENSION]
    assert isinstance(found, ApiState)
    return found
