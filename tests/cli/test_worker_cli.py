"""`gnomon worker` refuses, naming what is wrong, before it takes anything from a broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli import cli
from tests.conftest import WriteConfig


def worker(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["worker", "--config", str(config), *args])
    return result.exit_code, result.output


def test_bad_or_missing_queue_names_are_refused_naming_the_option(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GNOMON_CELERY_BROKER_URL", raising=False)
    config = write_config('[celery]\nbroker_url = "redis://127.0.0.1:1/0"\n')
    code, output = worker(config, "--queues", "reports,no spaces")
    assert code == 2, output
    assert "--queues" in output and "'no spaces' is not a valid queue name" in output
    code, output = worker(config, "--queues", " , ")
    assert code == 2 and "name at least one queue" in output, output


def test_a_worker_without_a_broker_says_it_needs_one(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GNOMON_CELERY_BROKER_URL", raising=False)
    code, output = worker(write_config(""), "--queues", "reports")
    assert code == 2, output
    assert "celery.broker_url" in output and "needs the broker" in output
