"""What the API keeps per app: the runtime, its services, the settings and the login limiter."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from gnomon.api.ratelimit import LoginLimiter
from gnomon.config import ServerSettings
from gnomon.engine.metrics import EngineMetrics
from gnomon.services.audit import AuditService
from gnomon.services.runtime import Runtime
from gnomon.services.status import StatusService
from gnomon.services.tokens import TokenService

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
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
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
