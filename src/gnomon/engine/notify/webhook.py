"""Webhook channels: the notice's JSON document, signed with HMAC-SHA256 when a secret is set.

`X-Gnomon-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes under the
channel's secret; a receiver computes the same over the body it got and compares in constant
time. `X-Gnomon-Delivery` is the same on every attempt of one delivery.
"""

from __future__ import annotations

import hashlib
import hmac

from gnomon.alerts import Channel
from gnomon.engine.notify.base import SendContext, Sent, body, headers, post
from gnomon.engine.notify.notice import Notice
from gnomon.errors import SecretUnavailable
from gnomon.references import resolve

SIGNATURE_HEADER = "X-Gnomon-Signature"


def signature(secret: str, content: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), content, hashlib.sha256).hexdigest()


def send_webhook(notice: Notice, channel: Channel, context: SendContext) -> Sent:
    try:
        url = resolve(channel.url or "", context.env)
        secret = resolve(channel.secret, context.env) if channel.secret else None
    except SecretUnavailable as exc:
        return Sent(error=str(exc))
    content = body(notice.document())
    head = headers(notice)
    if secret is not None:
        head[SIGNATURE_HEADER] = signature(secret, content)
    return post(context, url, content, head, channel.timeout, (url, secret or ""))
