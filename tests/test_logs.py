"""Logging set-up: text lines for people, one JSON object a line with stable keys."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gnomon.logs import JSON_KEYS, configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root")
def test_json_lines_start_with_the_stable_keys_and_carry_the_record_fields() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    logging.getLogger("gnomon.test").warning(
        "run %s failed", "r1", extra={"job_id": "backup", "run_id": "r1", "duration_s": 1.5}
    )
    line = json.loads(out.getvalue())
    assert list(line)[:4] == list(JSON_KEYS)
    assert line["level"] == "WARNING" and line["logger"] == "gnomon.test"
    assert line["message"] == "run r1 failed"
    assert line["time"].endswith("+00:00")
    assert (line["job_id"], line["run_id"], line["duration_s"]) == ("backup", "r1", 1.5)


@pytest.mark.usefixtures("restore_root")
def test_json_line_of_an_exception_keeps_its_traceback_on_one_line() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        raise ValueError("bad — 坏")
    except ValueError:
        logging.getLogger("gnomon.test").exception("it broke")
    assert out.getvalue().count("\n") == 1
    line = json.loads(out.getvalue())
    assert "ValueError: bad — 坏" in line["exc_info"]


@pytest.mark.usefixtures("restore_root")
def test_text_lines_and_level_and_a_second_call_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "text", stream=first)
    configure_logging("warning", "text", stream=second)
    log = logging.getLogger("gnomon.test")
    log.info("not shown")
    log.warning("shown once")
    assert first.getvalue() == ""
    assert second.getvalue().count("shown once") == 1
    assert "WARNING gnomon.test: shown once" in second.getvalue()
    assert "not shown" not in second.getvalue()
