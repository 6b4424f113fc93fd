"""The success and error envelopes of every answer (SPEC §5.1), and shared model bits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Text = str | None


class Strict(BaseModel):
    """Input models: unknown keys are refused, as the handlers refuse them."""

    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    field: str
    message: str


class ErrorContext(BaseModel):
    model_config = ConfigDict(extra="allow")
    request_id: str
    user_id: int | None
    url: str
    method: str


class ErrorEnvelope(BaseModel):
    """Every 4xx and 5xx answer (SPEC §5.1)."""

    success: Literal[False]
    error: Literal[True]
    error_id: str = Field(pattern="^[0-9a-f]{32}$")
    category: Literal[
        "validation", "business", "authentication", "authorization", "security", "system"
    ]
    severity: Literal["low", "medium", "high", "critical"]
    message_code: str
    message: str
    timestamp: str
    recoverable: bool
    suggestions: list[str]
    details: list[Problem] = Field(default_factory=list, description="Validation errors only.")
    context: ErrorContext


class _Envelope(BaseModel):
    success: Literal[True]
    error: Literal[False]
    message: str
    timestamp: str


def envelope(name: str, data: Any) -> type[BaseModel]:
    """A success envelope class whose `data` has the given type."""
    return type(name, (_Envelope,), {"__annotations__": {"data": data}, "__module__": __name__})
