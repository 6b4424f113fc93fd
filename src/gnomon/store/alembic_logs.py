"""Alembic's INFO lines, kept out of the application's log while gnomon migrates its store."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_ALEMBIC_LOGGERS = (
    "alembic.runtime.migration",
    "alembic.runtime.plugins",
    "alembic.ddl.impl",
    "alembic.ddl.postgresql",
    "alembic.config",
    "alembic.util.messaging",
)


class _BelowWarningHere(logging.Filter):
    """Drops the records below WARNING logged on one thread."""

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.thread != self._thread


@contextmanager
def alembic_at_warning() -> Iterator[None]:
    """Alembic logs what gnomon's migrations do ("Context impl SQLiteImpl.", "Running upgrade
    …", and on its first import "setup plugin …") at INFO: an application embedding gnomon
    with its own logging at INFO would print them on every start. While this is entered, only
    Alembic's warnings and errors pass, and only on this thread: the application's own use of
    Alembic, on other threads, logs as configured."""
    quiet = _BelowWarningHere()
    names = {
        name
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and (name == "alembic" or name.startswith("alembic."))
    }
    # Loggers of modules Alembic imports only while it migrates: made now, filter and all.
    names.update(_ALEMBIC_LOGGERS)
    loggers = [logging.getLogger(name) for name in sorted(names)]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)
