"""The benchmark scripts run end to end on a tiny size (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = pytest.mark.xdist_group("processes")

SMOKE_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gnomon_bench_smoke"


def test_run_all_produces_a_result_file(tmp_path: Path) -> None:
    out = tmp_path / "firing.json"
    subprocess.run(
        [
            sys.executable, str(BENCH / "run_all.py"),
            "--engines", "aps-memory", "gnomon-sqlite", "gnomon-postgres",
            "--jobs", "20", "--modes", "spread", "--seconds", "2", "--warmup", "1",
            "--repeats", "1", "--out", str(out),
        ],
        check=True,
        timeout=300,
        # Its own database, so a benchmark running meanwhile is not disturbed.
        env={**os.environ, "GNOMON_BENCH_PG_URL": SMOKE_PG_URL},
    )  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert [r["engine"] for r in rows] == ["aps-memory", "gnomon-sqlite", "gnomon-postgres"]
    for row in rows:
        assert row["fires_per_s"] > 0
        assert row["p99_ms"] is not None
