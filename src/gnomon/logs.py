"""Logging for gnomon's processes: one handler on stderr, text lines or one JSON object a line.

Set up once at start-up by the commands that run gnomon (`serve`, `api`, `scheduler`), never at
import; gunicorn's own lines reach the same handler (see cli/serve.py). Records carry their
facts twice: in the message, for people reading text, and as fields of their own (`extra`:
job_id, run_id, status, request_id, …), which JSON lines show as keys.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: The keys every JSON line starts with, in this order; the record's own fields follow.
JSON_KEYS = ("time", "level", "logger", "message")

LogFormat = Literal["text", "json"]


class JsonLineFormatter(JsonFormatter):
    """A record as one JSON object: `time` (UTC, ISO 8601, milliseconds), `level`, `logger`,
    `message`, then the record's extra fields as keys; a traceback as `exc_info`."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                # Set on the records of a job's run logger (engine/context.py).
                "gnomon_run_id": "run_id",
            },
            json_ensure_ascii=False,
        )

    def formatTime(  # noqa: N802 - overrides logging.Formatter
        self, record: logging.LogRecord, datefmt: str | None = None
    ) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter of `fmt` lines."""
    return JsonLineFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


class _GnomonHandler(logging.StreamHandler[TextIO]):
    """The handler configure_logging installs (and replaces when called again)."""


def configure_logging(
    level: str = "info", fmt: LogFormat = "text", stream: TextIO | None = None
) -> None:
    """Send records at `level` and above, of every logger, to `stream` (default: stderr as it
    is now, before the engine routes job output) as `fmt` lines. Calling it again replaces its
    handler rather than doubling lines; handlers others put on the root logger stay."""
    handler = _GnomonHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _GnomonHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    # Alembic announces every plugin and migration step at INFO; its warnings still show.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
