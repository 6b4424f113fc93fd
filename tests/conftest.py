"""Shared fixtures: a migrated SQLite store, config files written on the fly, a runtime."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gnomon.services.runtime import Runtime
from tests.components import allowed_skips

WriteConfig = Callable[[str], Path]


def pytest_configure(config: pytest.Config) -> None:
    allowed_skips()  # a misspelt opt-out stops the run before any test


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write a gnomon.toml (dedented) in tmp_path; the store goes to tmp_path/data."""

    def write(body: str) -> Path:
        path = tmp_path / "gnomon.toml"
        header = 'data_dir = "data"\n'
        path.write_text(header + textwrap.dedent(body), encoding="utf-8")
        return path

    return write


@pytest.fixture
def runtime_factory() -> Iterator[Callable[[Path], Runtime]]:
    """Build runtimes on a config file (store migrated); all are closed at the end."""
    made: list[Runtime] = []

    def make(path: Path) -> Runtime:
        runtime = Runtime.from_config_file(path, env={})
        runtime.prepare_store()
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close(grace=5)
