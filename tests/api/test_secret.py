"""Where the session-signing key comes from: setting, file, or generated once in the data dir."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gnomon.api.secret import load_secret_key
from gnomon.config import ServerSettings
from gnomon.errors import ConfigInvalid


@pytest.mark.usefixtures("common_umask")
def test_generated_key_is_stored_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = load_secret_key(ServerSettings(), data_dir)
    path = data_dir / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700  # made for the key: private too
    assert len(first) == 64
    assert load_secret_key(ServerSettings(), data_dir) == first


def test_configured_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    key = "k" * 32
    assert load_secret_key(ServerSettings(secret_key=key), tmp_path) == key
    assert not (tmp_path / "secret_key").exists()


def test_key_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "key.txt"
    path.write_text("s" * 40 + "\n")
    assert load_secret_key(ServerSettings(secret_key_file=str(path)), tmp_path) == "s" * 40


def test_missing_key_file_is_a_config_problem(tmp_path: Path) -> None:
    settings = ServerSettings(secret_key_file=str(tmp_path / "absent"))
    with pytest.raises(ConfigInvalid) as caught:
        load_secret_key(settings, tmp_path)
    assert caught.value.problems[0].field == "server.secret_key_file"


def test_short_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        load_secret_key(ServerSettings(secret_key="short"), tmp_path)
    assert caught.value.problems[0].field == "server.secret_key"


def test_sessions_survive_a_new_app_on_the_same_data_dir(tmp_path: Path) -> None:
    # Two workers (or a restart) derive the same key, so a cookie from one is valid in the other.
    assert load_secret_key(ServerSettings(), tmp_path) == load_secret_key(
        ServerSettings(), tmp_path
    )
