"""Private files and directories, created with exact modes, and the check that finds looser ones."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gnomon.filemodes import create_private_file, loose_modes, make_private_dir

pytestmark = pytest.mark.usefixtures("common_umask")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_directory_is_created_0700_with_its_parents(tmp_path: Path) -> None:
    path = tmp_path / "var" / "data"
    make_private_dir(path)
    assert mode(path) == 0o700
    assert mode(path.parent) == 0o755  # a parent is not gnomon's to restrict


def test_an_existing_directory_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.mkdir(mode=0o750)
    make_private_dir(path)
    assert mode(path) == 0o750


def test_a_file_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    saved = os.umask(0o277)  # would leave the owner read-only
    try:
        assert create_private_file(path)
    finally:
        os.umask(saved)
    assert mode(path) == 0o600
    assert path.read_bytes() == b""


def test_an_existing_file_is_neither_replaced_nor_changed(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_text("data")
    path.chmod(0o640)
    assert not create_private_file(path)
    assert path.read_text() == "data"
    assert mode(path) == 0o640


def test_loose_modes_name_each_path_others_may_read_and_how_to_fix_it(tmp_path: Path) -> None:
    shared_dir = tmp_path / "data"
    shared_dir.mkdir(mode=0o755)
    shared_file = shared_dir / "gnomon.db"
    shared_file.write_text("")
    shared_file.chmod(0o640)
    private_file = shared_dir / "secret_key"
    private_file.write_text("")
    private_file.chmod(0o600)
    messages = loose_modes([shared_dir, shared_file, private_file, shared_dir / "absent"])
    assert messages == [
        f"{shared_dir} has mode 0755: other users of this machine may read what gnomon keeps "
        f"there (password hashes, run output, the audit log, keys); run: chmod 700 {shared_dir}",
        f"{shared_file} has mode 0640: other users of this machine may read what gnomon keeps "
        f"there (password hashes, run output, the audit log, keys); run: chmod 600 {shared_file}",
    ]
