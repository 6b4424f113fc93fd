"""What the API keeps per app: the runtime, the server settings and the login limiter."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from flask import current_app

from gnomon.api.ratelimit import LoginLimiter
from gnomon.config import ServerSettings
from gnomon.services.runtime import Runtime

EXTENSION = "gnomon"


@dataclass
class ApiState:
    """Built by `create_app`; handlers reach it through `state()`."""

    runtime: Runtime
    settings: ServerSettings
    node_id: str
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    started: float = field(default_factory=time.monotonic)

    @property
    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started, 3)


def state() -> ApiState:
    """The ApiState of the app handling the current request."""
    found = current_app.extensions[EXTENSION]
    assert isinstance(found, ApiState)
    return found
