"""The sender of each channel type, and the context they send in (one HTTP client)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from gnomon.alerts import Channel, ChannelKind, SmtpServer
from gnomon.engine.notify.base import SendContext, Sender, Sent
from gnomon.engine.notify.mail import send_email
from gnomon.engine.notify.notice import Notice
from gnomon.engine.notify.slack import send_slack
from gnomon.engine.notify.webhook import send_webhook

SENDERS: dict[ChannelKind, Sender] = {
    ChannelKind.WEBHOOK: send_webhook,
    ChannelKind.SLACK: send_slack,
    ChannelKind.EMAIL: send_email,
}


def new_context(env: Mapping[str, str], smtp: SmtpServer | None) -> SendContext:
    """A context with its own HTTP client (connections kept alive between sends); close its
    client when done."""
    return SendContext(http=httpx.Client(follow_redirects=False), env=env, smtp=smtp)


def send(notice: Notice, channel: Channel, context: SendContext) -> Sent:
    """Send `notice` on `channel` once; a failure is a result, never an exception."""
    try:
        return SENDERS[channel.kind](notice, channel, context)
    except Exception as exc:  # a bug in a sender must not stop the deliverer
        return Sent(error=f"gnomon failed sending: {type(exc).__name__}: {exc}")
