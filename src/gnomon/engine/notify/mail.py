"""Email channels: a plain-text and HTML message through the `[smtp]` server (smtplib).

The Message-ID is built from the delivery id, so a mail retried after a lost answer is the same
message to mail clients and archives; X-Gnomon-Delivery carries the id too.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from gnomon.alerts import Channel, SmtpServer
from gnomon.engine.notify.base import SendContext, Sent, redact
from gnomon.engine.notify.notice import Notice
from gnomon.errors import SecretUnavailable
from gnomon.references import resolve


def email_message(notice: Notice, channel: Channel, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = notice.headline()
    message["From"] = sender
    message["To"] = ", ".join(channel.to)
    message["Date"] = formatdate(notice.occurred_at.timestamp(), usegmt=True)
    message["Message-ID"] = f"<{notice.delivery_id}@gnomon>"
    message["X-Gnomon-Delivery"] = notice.delivery_id
    message["X-Gnomon-Event"] = notice.event.value
    message.set_content(_text(notice))
    message.add_alternative(_html(notice), subtype="html")
    return message


def _text(notice: Notice) -> str:
    lines = [notice.headline(), ""]
    lines += [f"{label}: {value}" for label, value in notice.facts()]
    if notice.console_url:
        lines += ["", f"Open in gnomon: {notice.console_url}"]
    if notice.output_tail:
        lines += ["", "End of the output:", "", notice.output_tail]
    return "\n".join(lines) + "\n"


def _html(notice: Notice) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left'>{e(label)}</th><td>{e(value)}</td></tr>"
        for label, value in notice.facts()
    )
    parts = [f"<h2>{e(notice.headline())}</h2>", f"<table>{rows}</table>"]
    if notice.console_url:
        parts.append(f"<p><a href='{e(notice.console_url)}'>Open in gnomon</a></p>")
    if notice.output_tail:
        parts.append(f"<p>End of the output:</p><pre>{e(notice.output_tail)}</pre>")
    return "<html><body>" + "".join(parts) + "</body></html>"


def send_email(notice: Notice, channel: Channel, context: SendContext) -> Sent:
    smtp = context.smtp
    if smtp is None:
        return Sent(error="no [smtp] server is configured for email channels")
    try:
        password = resolve(smtp.password, context.env) if smtp.password else None
    except SecretUnavailable as exc:
        return Sent(error=str(exc))
    message = email_message(notice, channel, smtp.sender)
    try:
        _send(smtp, password, message)
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return Sent(
            status_code=exc.smtp_code,
            error=redact(f"SMTP {exc.smtp_code}: {text}", (password or "",)),
        )
    except (smtplib.SMTPException, OSError) as exc:
        return Sent(error=redact(f"{type(exc).__name__}: {exc}", (password or "",)))
    return Sent(status_code=250)


def _send(smtp: SmtpServer, password: str | None, message: EmailMessage) -> None:
    tls = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.ssl:
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=tls)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        if smtp.starttls:
            client.starttls(context=tls)
        if smtp.username is not None and password is not None:
            client.login(smtp.username, password)
        client.send_message(message)
