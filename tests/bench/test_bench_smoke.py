"""The benchmark scripts run end to end on a tiny size (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def run_script(script: str, out: Path, *args: str, timeout: float = 180) -> dict[str, Any]:
    """Run one bench script with `--out out` and return the JSON it wrote."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--out", str(out)],
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(out.read_text())
    return result


CELL_KEYS = {"target", "jobs", "endpoint", "concurrency", "requests", "rps", "p50_ms", "p99_ms"}
SUMMARY_KEYS = {"n", "median_ms", "p90_ms", "samples_ms"}


def test_api_latency_produces_cells_for_both_servers(tmp_path: Path) -> None:
    result = run_script(
        "api_latency.py", tmp_path / "api.json",
        "--jobs", "10", "--concurrency", "1", "4", "--requests", "20", "--max-seconds", "5",
        "--warmup", "2",
    )  # fmt: skip
    rows = result["rows"]
    assert {(r["target"], r["endpoint"], r["concurrency"]) for r in rows} == {
        (target, endpoint, concurrency)
        for target in ("gnomon", "flask-apscheduler")
        for endpoint in ("list", "get", "put_trigger", "run")
        for concurrency in (1, 4)
    }
    for row in rows:
        assert row.keys() >= CELL_KEYS
        assert row["requests"] > 0
    assert set(result["list_rps_ratio"]) == {"10@c1", "10@c4"}


def test_felt_latency_produces_single_node_and_cross_node_figures(tmp_path: Path) -> None:
    result = run_script(
        "felt_latency.py", tmp_path / "felt.json",
        "--samples", "3", "--pause-samples", "1", "--pg-database", "gnomon_bench_felt_smoke",
    )  # fmt: skip
    single = result["single_node_sqlite"]
    across = result["across_nodes_postgres"]
    for part in (single, across):
        for key in ("response_to_started", "queued_to_started", "pause_response_to_last_fire"):
            assert part[key].keys() >= SUMMARY_KEYS
    assert "failures" in single and "failures" in across
    assert across["requested_on_non_leader"] is True


def test_startup_produces_first_fire_and_peak_rss(tmp_path: Path) -> None:
    result = run_script(
        "startup.py", tmp_path / "startup.json",
        "--jobs", "10", "--repeats", "1", "--settle", "0.2",
    )  # fmt: skip
    [row] = result["rows"]
    assert row["jobs"] == 10
    assert {"first_fire_s", "peak_rss_mb", "samples"} <= row.keys()
    assert row["peak_rss_mb"] > 0


def test_run_everything_combines_the_parts_into_one_file(tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    subprocess.run(
        [
            sys.executable, str(BENCH / "run_everything.py"), "--tiny",
            "--parts", "firing", "startup", "--out", str(out),
        ],
        check=True,
        timeout=180,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert {"firing", "startup", "wall_s"} <= result.keys()
    assert result["firing"]["rows"] and result["startup"]["rows"]
