"""What every channel type shares: the result of one send, the context it is sent in, posting
JSON over HTTP, and keeping resolved secrets out of what is recorded. (httpx is imported by
senders.py, when the first notification is sent.)"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gnomon import __version__
from gnomon.alerts import Channel, SmtpServer
from gnomon.engine.notify.notice import Notice

if TYPE_CHECKING:
    import httpx

USER_AGENT = f"gnomon/{__version__}"
#: The longest a receiver's Retry-After is followed (it may ask for less; backoff still applies).
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class Sent:
    """What one try at sending came to: delivered (error None) or not, with the receiver's
    status (HTTP status, SMTP reply code) when it answered, and how long it asked us to wait."""

    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SendContext:
    """What senders need besides the notice and its channel."""

    http: httpx.Client
    env: Mapping[str, str]  # where ${env:NAME} references are resolved, at send time
    smtp: SmtpServer | None = None


class Sender(Protocol):
    def __call__(self, notice: Notice, channel: Channel, context: SendContext) -> Sent: ...


def headers(notice: Notice) -> dict[str, str]:
    """Headers sent with every HTTP notification: a receiver drops repeats by the delivery id."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Gnomon-Delivery": notice.delivery_id,
        "X-Gnomon-Event": notice.event.value,
    }


def body(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def post(
    context: SendContext,
    url: str,
    content: bytes,
    head: Mapping[str, str],
    timeout: float,
    secrets: tuple[str, ...],
) -> Sent:
    """POST `content`; any 2xx is delivered. Redirects are not followed: a receiver that moved
    is a configuration to fix, and following one would send the body somewhere unchecked."""
    import httpx

    try:
        response = context.http.post(url, content=content, headers=head, timeout=timeout)
    except httpx.HTTPError as exc:
        return Sent(error=redact(f"{type(exc).__name__}: {exc}", secrets))
    if 200 <= response.status_code < 300:
        return Sent(status_code=response.status_code)
    return Sent(
        status_code=response.status_code,
        error=f"HTTP {response.status_code}",
        retry_after=retry_after(response.headers.get("Retry-After")),
    )


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (its date form is not followed: backoff applies instead)."""
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), MAX_RETRY_AFTER)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every resolved secret (a URL, a key, a password) replaced by "[secret]":
    attempts are recorded and shown through the API."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    return text
