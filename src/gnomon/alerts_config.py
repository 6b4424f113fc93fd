"""The notification settings as written in the file: `[[notifications]]` channels and `[smtp]`,
checked (one problem per key) and turned into gnomon.alerts' channels."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gnomon.alerts import DEFAULT_EVENTS, Channel, ChannelKind, SmtpServer
from gnomon.domain import Event, Route
from gnomon.errors import Problem
from gnomon.references import has_reference, reference_problems

CHANNEL_ID_PATTERN = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,63}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
#: The events a channel's `on` may list (`test` is only ever sent by `gnomon notify test`).
SELECTABLE = sorted(event.value for event in DEFAULT_EVENTS)


def parse_duration(value: float | str) -> float:
    """Seconds from a number of seconds, or text with a unit: "90s", "30m", "24h", "7d"."""
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds or a duration such as '30m' or '24h'")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration: write e.g. 90, '90s', '30m', '24h', '7d'")
    return float(match.group(1)) * _UNITS[match.group(2)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ChannelDeclaration(_Section):
    """One `[[notifications]]` table."""

    id: str
    type: Literal["webhook", "slack", "email"]
    url: str | None = None
    secret: str | None = None
    to: list[str] | None = None
    on: list[str] = Field(default_factory=lambda: list(SELECTABLE))
    timeout: float = Field(default=10.0, gt=0, le=300)
    # Seconds, or text with a unit ("24h"); see parse_duration.
    give_up_after: float | str = 86400.0
    retry_backoff: float | str = 10.0
    retry_backoff_max: float | str = 600.0

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not CHANNEL_ID_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a valid channel id: use 1-64 of a-z 0-9 _ . - "
                "(starting with a letter, digit or _)"
            )
        return value

    @field_validator("on")
    @classmethod
    def _check_on(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in SELECTABLE]
        if unknown:
            raise ValueError(f"unknown event(s) {unknown}: choose from {', '.join(SELECTABLE)}")
        return value

    @field_validator("give_up_after", "retry_backoff", "retry_backoff_max")
    @classmethod
    def _check_duration(cls, value: float | str) -> float:
        seconds = parse_duration(value)
        if not 0 < seconds <= 30 * 86400:
            raise ValueError("must be more than 0 and at most 30 days")
        return seconds

    def channel(self) -> Channel:
        return Channel(
            id=self.id,
            kind=ChannelKind(self.type),
            events=frozenset(Event(name) for name in self.on),
            url=self.url,
            secret=self.secret,
            to=tuple(self.to or ()),
            timeout=self.timeout,
            give_up_after=float(self.give_up_after),
            retry_backoff=float(self.retry_backoff),
            retry_backoff_max=float(self.retry_backoff_max),
        )


class SmtpSettings(_Section):
    """The `[smtp]` table: the server email notifications are sent through."""

    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(alias="from")
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = Field(default=10.0, gt=0, le=300)

    def server(self) -> SmtpServer:
        return SmtpServer(
            host=self.host,
            port=self.port,
            sender=self.sender,
            starttls=self.starttls,
            ssl=self.ssl,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
        )


def channel_problems(
    channels: Sequence[ChannelDeclaration], smtp: SmtpSettings | None, default: Sequence[str]
) -> list[Problem]:
    """What is wrong across the notification settings: duplicate ids, email without [smtp],
    malformed secret references, and `[scheduler] notify` naming channels that do not exist."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, channel in enumerate(channels):
        where = f"notifications[{index}]"
        if channel.id in seen:
            problems.append(Problem(f"{where}.id", f"duplicate channel id {channel.id!r}"))
        seen.add(channel.id)
        problems += _kind_problems(where, channel, smtp)
        for key in ("url", "secret"):
            text = getattr(channel, key)
            problems += [Problem(f"{where}.{key}", m) for m in reference_problems(text or "")]
    if smtp is not None:
        problems += _smtp_problems(smtp)
    problems += route_problems("scheduler.notify", default, seen)
    return problems


def _kind_problems(
    where: str, channel: ChannelDeclaration, smtp: SmtpSettings | None
) -> list[Problem]:
    """The keys a channel of its type needs, and the ones it does not take."""
    kind = channel.type
    if kind == "email":
        problems = [
            Problem(f"{where}.{key}", "an email channel sends to `to`: remove it")
            for key in ("url", "secret")
            if getattr(channel, key) is not None
        ]
        if not channel.to or any("@" not in address for address in channel.to):
            problems.append(
                Problem(f"{where}.to", "give the addresses to notify, e.g. ['ops@example.com']")
            )
        if smtp is None:
            problems.append(
                Problem(f"{where}.type", "email channels need an [smtp] section (host, from)")
            )
        return problems
    problems = []
    if channel.to is not None:
        problems.append(Problem(f"{where}.to", f"a {kind} channel posts to `url`: remove it"))
    url = channel.url
    if not url:
        problems.append(Problem(f"{where}.url", f"a {kind} channel needs the URL it posts to"))
    elif not has_reference(url) and urlsplit(url).scheme not in ("http", "https"):
        problems.append(Problem(f"{where}.url", "must be an http:// or https:// URL"))
    if kind == "slack" and channel.secret is not None:
        problems.append(
            Problem(f"{where}.secret", "Slack incoming webhooks are not signed: remove it")
        )
    return problems


def _smtp_problems(smtp: SmtpSettings) -> list[Problem]:
    problems = []
    if smtp.starttls and smtp.ssl:
        problems.append(
            Problem("smtp.ssl", "choose starttls or ssl (TLS from the start, usually port 465)")
        )
    if (smtp.username is None) != (smtp.password is None):
        missing = "password" if smtp.password is None else "username"
        problems.append(Problem(f"smtp.{missing}", "give username and password, or neither"))
    if smtp.password is not None:
        problems += [Problem("smtp.password", m) for m in reference_problems(smtp.password)]
    return problems


def route_problems(where: str, names: Sequence[str], known: set[str]) -> list[Problem]:
    return [
        Problem(
            f"{where}[{index}]",
            f"no notification channel {name!r}: declare it as [[notifications]] with "
            f'id = "{name}", or remove it here',
        )
        for index, name in enumerate(names)
        if name not in known
    ]


def routes(names: Sequence[str], channels: Sequence[ChannelDeclaration]) -> tuple[Route, ...]:
    """The routes of the named channels that exist, in the order named, each once."""
    by_id = {channel.id: channel for channel in channels}
    chosen = dict.fromkeys(name for name in names if name in by_id)
    return tuple(
        Route(name, frozenset(Event(event) for event in by_id[name].on)) for name in chosen
    )
