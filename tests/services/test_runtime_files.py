"""At start-up, gnomon warns about each of its files and directories other users may read."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gnomon.services.runtime import Runtime
from tests.conftest import WriteConfig

pytestmark = pytest.mark.usefixtures("common_umask")


def start(config: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Prepare the store as `gnomon serve` and `gnomon scheduler` do; the warnings logged."""
    runtime = Runtime.from_config_file(config, env={})
    try:
        with caplog.at_level(logging.WARNING, logger="gnomon.services.runtime"):
            runtime.prepare_store()
    finally:
        runtime.close()
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_fresh_data_directory_starts_without_warnings(
    write_config: WriteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    assert start(write_config(""), caplog) == []


def test_loose_modes_left_by_an_earlier_version_are_each_reported(
    write_config: WriteConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "session.key"
    key_file.write_text("k" * 32)
    key_file.chmod(0o644)
    config = write_config(f'[server]\nsecret_key_file = "{key_file}"\n')
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    (data_dir / "gnomon.db").touch(mode=0o644)
    (data_dir / "secret_key").touch(mode=0o644)
    warnings = start(config, caplog)
    assert [w.split(" has mode ")[0] for w in warnings] == [
        str(data_dir),
        str(data_dir / "secret_key"),
        str(data_dir / "gnomon.db"),
        # Made by SQLite while the store is open, with the database file's mode.
        str(data_dir / "gnomon.db-wal"),
        str(data_dir / "gnomon.db-shm"),
        str(key_file),
    ]
    assert warnings[0].endswith(f"run: chmod 700 {data_dir}")
    assert warnings[2].endswith(f"run: chmod 600 {data_dir / 'gnomon.db'}")
