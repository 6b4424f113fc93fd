"""Slack channels: a message in the incoming-webhook format, {"text": …, "blocks": […]}.

Slack does not drop repeats: a delivery retried after a lost answer may show twice there.
"""

from __future__ import annotations

from typing import Any

from gnomon.alerts import Channel
from gnomon.domain import Event
from gnomon.engine.notify.base import SendContext, Sent, body, headers, post
from gnomon.engine.notify.notice import Notice
from gnomon.errors import SecretUnavailable
from gnomon.references import resolve

_ICONS = {Event.RECOVERED: ":large_green_circle:", Event.TEST: ":information_source:"}
#: Slack's limit on the text of one section block.
_SECTION_CHARS = 3000


def slack_message(notice: Notice) -> dict[str, Any]:
    """The message: `text` (what notifications and old clients show), and blocks: the headline,
    the run's facts, the end of its output, a link to the run."""
    icon = _ICONS.get(notice.event, ":red_circle:")
    text = f"{icon} {_escape(notice.headline())}"
    if notice.console_url:
        text += f" <{notice.console_url}|Open in gnomon>"
    facts = "\n".join(f"*{label}:* {_escape(value)}" for label, value in notice.facts())
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "section", "text": {"type": "mrkdwn", "text": facts[:_SECTION_CHARS]}},
    ]
    tail = notice.output_tail
    if tail:
        quoted = "```" + _escape(tail)[-(_SECTION_CHARS - 6) :] + "```"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": quoted}})
    return {"text": text, "blocks": blocks}


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_slack(notice: Notice, channel: Channel, context: SendContext) -> Sent:
    try:
        url = resolve(channel.url or "", context.env)
    except SecretUnavailable as exc:
        return Sent(error=str(exc))
    content = body(slack_message(notice))
    return post(context, url, content, headers(notice), channel.timeout, (url,))
