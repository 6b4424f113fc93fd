"""The README's "Embedding gnomon in your application" examples, run as they are written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Embedding gnomon in your application"

pytestmark = pytest.mark.xdist_group("processes")


def examples() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GNOMON_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_the_section_has_its_four_examples() -> None:
    assert len(examples()) == 4


def test_the_application_example(tmp_path: Path) -> None:
    done = run(examples()[0], tmp_path)
    out = done.stdout
    assert "<Job id='heartbeat' name='heartbeat' func='__main__:heartbeat'" in out
    assert "trigger='cron[0 0 7 * * mon-fri *] UTC'" in out
    assert "FINISHED boss-report succeeded" in out
    assert "FINISHED heartbeat succeeded" in out
    assert "alembic" not in out + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["example.py"]  # a store in memory


def test_the_trigger_example(tmp_path: Path) -> None:
    lines = run(examples()[1], tmp_path).stdout.splitlines()
    assert len(lines) == 6
    assert lines[0].startswith("interval[0:15:00] Europe/Berlin 20")
    assert lines[1].startswith("cron[0 30 2 * * mon-fri *] Europe/Berlin 20")
    assert lines[2].startswith("cron[0 0 9 * * sat *] Europe/Berlin 20")
    assert lines[3] == ("date[2030-01-01T08:30:00+01:00] Europe/Berlin 2030-01-01 08:30:00+01:00")
    assert lines[4].startswith("cron[0 0 4 * * * *] Asia/Tokyo 20")
    assert lines[4].endswith(" 04:00:00+09:00")
    assert lines[5].startswith("interval[6:00:00")


def test_the_bulk_example(tmp_path: Path) -> None:
    out = run(examples()[2], tmp_path).stdout
    assert re.fullmatch(r"10000 jobs added in \d+\.\d s\n", out), out


def test_the_persistent_store_example(tmp_path: Path) -> None:
    for _ in range(2):  # started twice: the job is still one
        assert run(examples()[3], tmp_path).stdout == "['cleanup']\n"
    assert (tmp_path / "myapp-jobs.db").is_file()
