"""Reading request bodies and query parameters, with one problem per bad field."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from gnomon.api.errors import InvalidJson
from gnomon.errors import Problem, ValidationFailed

E = TypeVar("E", bound=StrEnum)

#: The largest request body read (1 MiB); larger ones are 413 PAYLOAD_TOO_LARGE.
MAX_BODY = 1024 * 1024
#: How deeply a body may nest arrays and objects; gnomon's own bodies are flat objects.
MAX_DEPTH = 32
MAX_DIGITS = 18  # every integer parameter fits; longer ones are refused before int() reads them
#: json.loads reads an escaped lone surrogate ("\ud800") into a str that no UTF-8 encoder can
#: write: not a character (RFC 7493 forbids it in I-JSON), it failed every step that encodes
#: text, down to the error answer echoing the key it was in.
LONE_SURROGATE = "a string holds an escaped lone surrogate (\\ud800-\\udfff), not a character"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def json_body() -> Any:
    """The parsed body, or None when there is none. Raises InvalidJson.

    The body is parsed whatever its Content-Type: session writes need the X-CSRFToken header
    anyway, so a form-encoded cross-site post cannot reach a handler.
    """
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        # A body without Content-Length (chunked) is read up to MAX_CONTENT_LENGTH, one byte
        # past MAX_BODY, and werkzeug returns it cut there instead of refusing it.
        raise RequestEntityTooLarge()
    if not raw.strip():
        return None
    try:
        # Strictly UTF-8 (RFC 8259; a leading BOM is skipped): json.loads of bytes would also
        # take UTF-16 and UTF-32, and decode an encoded lone surrogate instead of refusing it.
        text = raw.decode("utf-8-sig")
        body = json.loads(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError among them
        raise InvalidJson() from None
    except RecursionError:
        deep = True  # nested past the interpreter's own limit: far past ours
    else:
        deep = _too_deep(body)
    if deep:
        raise InvalidJson(nesting=MAX_DEPTH)
    if _SURROGATE_ESCAPE.search(text) and not _is_unicode(body):
        raise InvalidJson(reason=LONE_SURROGATE)
    return body


def _is_unicode(value: Any) -> bool:
    """Whether every string in `value`, keys included, is encodable text (paired escapes of one
    character beyond U+FFFF are read as that character, and are fine)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _too_deep(value: Any) -> bool:
    """Whether `value` nests lists and dicts deeper than MAX_DEPTH (a scalar is depth 0)."""
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH + 1):
        level = [
            child
            for item in level
            if isinstance(item, list | dict)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return True


def object_body(required: bool = True) -> dict[str, Any]:
    """The body as a JSON object ({} when absent and not required). Raises ValidationFailed."""
    body = json_body()
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise ValidationFailed([Problem("body", "must be a JSON object")])
    return body


def no_body() -> None:
    """For actions without parameters: accept no body or `{}`; name any key given."""
    body = object_body(required=False)
    if body:
        raise ValidationFailed(
            [Problem(str(key), "unknown key; this action takes no parameters") for key in body]
        )


def body_int(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    """An optional integer in a JSON body, within [low, high]. Raises ValidationFailed."""
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed([Problem(key, f"must be an integer from {low} to {high}")])
    return value


def ascii_integer(text: str) -> int | None:
    """`text` as an integer when it is ASCII digits, optionally after a minus sign; else None.

    Python's int() also reads full-width digits ("５"), other scripts' digits and underscores
    ("1_0"): none of them is a number in a URL, and each would be a second spelling of one.
    """
    digits = text.removeprefix("-")
    if not digits or len(digits) > MAX_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return int(text)


#: RFC 3339's date-time (what OpenAPI's `format: date-time` means): the offset is required, so
#: that an instant in a URL never depends on the server's timezone.
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
INSTANT_PROBLEM = (
    "must be a date and time with its offset (RFC 3339), such as 2026-12-01T08:00:00+08:00 "
    "or 2026-12-01T00:00:00Z"
)


def parse_instant(text: str) -> datetime | None:
    """`text` as an aware UTC datetime when it is an RFC 3339 date-time; else None."""
    if _INSTANT.fullmatch(text) is None:
        return None
    # Python keeps microseconds: nanosecond digits beyond them are cut, not rounded.
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)].ljust(6, '0')}{rest[digits:]}"
    try:
        return datetime.fromisoformat(text.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        return None  # a day or hour that does not exist, or past the calendar's ends in UTC


class Query:
    """Query parameters read one by one; `done()` raises every problem found at once.

    A parameter given empty (`?status=`) is a bad value, not an absent one, as the OpenAPI
    document says; only `text` parameters treat an empty value as absent.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = request.args.get(name)
        if text is None:
            return default
        value = ascii_integer(text)
        if value is None or not low <= value <= high:
            message = f"must be an integer from {low} to {high}, written in digits 0-9"
            self.problems.append(Problem(name, message))
            return default
        return value

    def choice(self, name: str, enum: type[E]) -> E | None:
        text = request.args.get(name)
        if text is None:
            return None
        try:
            return enum(text)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            self.problems.append(Problem(name, f"must be one of {allowed}; got {text!r}"))
            return None

    def choices(self, name: str, enum: type[E]) -> tuple[E, ...]:
        """Any number of values, as the parameter repeated (`?status=a&status=b`), as one
        comma-separated list (`?status=a,b`), or both; each once, in the order given."""
        found: dict[E, None] = {}
        allowed = ", ".join(member.value for member in enum)
        for text in request.args.getlist(name):
            for piece in text.split(","):
                try:
                    found[enum(piece)] = None
                except ValueError:
                    message = f"must be one or more of {allowed}, comma-separated; got {piece!r}"
                    self.problems.append(Problem(name, message))
                    return ()
        return tuple(found)

    def instant(self, name: str) -> datetime | None:
        """An RFC 3339 date-time with its offset (`2026-12-01T08:00:00+08:00`, `…Z`), in UTC."""
        text = request.args.get(name)
        if text is None:
            return None
        value = parse_instant(text)
        if value is None:
            self.problems.append(Problem(name, INSTANT_PROBLEM))
        return value

    def text(self, name: str, max_length: int = 512) -> str | None:
        text = request.args.get(name)
        if text is None or text == "":
            return None
        if len(text) > max_length:
            self.problems.append(Problem(name, f"must be at most {max_length} characters"))
            return None
        return text

    def done(self) -> None:
        if self.problems:
            raise ValidationFailed(self.problems)
