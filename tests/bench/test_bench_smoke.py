"""The benchmark scripts run end to end on a tiny size (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.components import connect_pg_admin

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = pytest.mark.xdist_group("processes")

SMOKE_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gnomon_bench_smoke"


@pytest.fixture
def postgres() -> None:
    """The PostgreSQL server answers: a benchmark would only fail deep inside without it."""
    connect_pg_admin().close()


@pytest.mark.postgres
@pytest.mark.usefixtures("postgres")
def test_run_all_produces_a_result_file(tmp_path: Path) -> None:
    out = tmp_path / "firing.json"
    subprocess.run(
        [
            sys.executable, str(BENCH / "run_all.py"),
            "--engines", "aps-memory", "gnomon-sqlite", "gnomon-postgres",
            "--jobs", "20", "--modes", "spread", "--seconds", "2", "--warmup", "1",
            "--repeats", "2", "--cap-repeats", "gnomon-sqlite", "20", "1",
            "--cap-repeats", "gnomon-postgres", "20", "1", "--out", str(out),
        ],
        check=True,
        timeout=300,
        # Its own database, so a benchmark running meanwhile is not disturbed.
        env={**os.environ, "GNOMON_BENCH_PG_URL": SMOKE_PG_URL},
    )  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert [r["engine"] for r in rows] == ["aps-memory", "gnomon-sqlite", "gnomon-postgres"]
    assert [r["repeats"] for r in rows] == [2, 1, 1]
    assert [len(r["samples"]) for r in rows] == [2, 1, 1]
    for row in rows:
        assert row["fires_per_s"] > 0
        assert row["p99_ms"] is not None


def test_run_all_measures_each_target_and_way_of_declaring(tmp_path: Path) -> None:
    out = tmp_path / "targets.json"
    cells = [
        "gnomon-sqlite:6:spread:realistic:embedded", "gnomon-sqlite:6:spread:command",
        "gnomon-sqlite:3:spread:isolated", "aps-memory:6:spread:realistic",
    ]  # fmt: skip
    subprocess.run(
        [
            sys.executable, str(BENCH / "run_all.py"), "--cells", *cells,
            "--seconds", "1", "--warmup", "2", "--repeats", "1", "--out", str(out),
        ],
        check=True,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert [(r["engine"], r["target"], r["declare"]) for r in rows] == [
        ("gnomon-sqlite", "realistic", "embedded"),
        ("gnomon-sqlite", "command", "toml"),
        ("gnomon-sqlite", "isolated", "toml"),
        ("aps-memory", "realistic", None),
    ]
    for row in rows:
        assert row["fires"] > 0 and row["p99_ms"] is not None
        assert row["cpu_us_per_fire"] > 0 and row["tree_cpu_us_per_fire"] > 0
    embedded, command, isolated, aps = rows
    # Lateness taken in the body of every run the store saw start: none lost on the way, even
    # from child processes.
    assert embedded["fires"] == embedded["store_fires"]
    assert isolated["fires"] == isolated["store_fires"]
    assert embedded["add_s"] is not None and command["add_s"] is None
    # The children's CPU (the forkserver's runs) is counted with them, not without.
    assert isolated["tree_cpu_us_per_fire"] > isolated["cpu_us_per_fire"]
    assert embedded["p99_vs_aps_memory"] is not None and aps["p99_vs_aps_memory"] == 1.0


def test_run_everything_plans_the_issue_targets_cells() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "run_everything.py"), "--parts", "targets", "--plan-only"],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    [command] = done.stdout.splitlines()
    cells = command.split("--cells ")[1].split(" --")[0].split()
    assert {
        "gnomon-sqlite:1000:aligned:realistic", "aps-memory:1000:aligned:realistic",
        "gnomon-sqlite:1000:spread:command", "gnomon-sqlite:100:spread:isolated",
        "gnomon-sqlite:10000:spread:realistic", "gnomon-sqlite:10000:spread:realistic:embedded",
        "gnomon-postgres:10000:spread:realistic", "gnomon-postgres:1000:aligned:noop",
        "aps-sqlite:1000:spread:realistic",
    } <= set(cells)  # fmt: skip
    assert "--repeats 3" in command


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
        "--warmup", "2", "--repeats", "2",
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
        assert row["repeats"] == len(row["samples"]) == 2
    assert set(result["list_rps_ratio"]) == {"10@c1", "10@c4"}


@pytest.mark.postgres
@pytest.mark.usefixtures("postgres")
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


@pytest.mark.postgres
@pytest.mark.usefixtures("postgres")
def test_stats_fills_both_stores_and_times_every_call(tmp_path: Path) -> None:
    result = run_script(
        "stats.py", tmp_path / "stats.json",
        "--runs", "2000", "--jobs", "5", "--calls", "2",
        "--pg-url", "postgresql+psycopg://postgres@127.0.0.1:5432/gnomon_bench_stats_smoke",
    )  # fmt: skip
    rows = result["results"]
    assert [row["backend"] for row in rows] == ["sqlite", "postgres"]
    for row in rows:
        assert row["runs"] == 2000 and row["store_mb"] > 0
        for call in ("stats_24h", "stats_7d", "stats_30d", "runs_page", "runs_page_running"):
            assert row[call]["calls"] == 2 and row[call]["p50_ms"] > 0


def test_startup_produces_first_fire_and_peak_rss(tmp_path: Path) -> None:
    result = run_script(
        "startup.py", tmp_path / "startup.json",
        "--jobs", "10", "--repeats", "1", "--settle", "0.2",
    )  # fmt: skip
    [row] = result["rows"]
    assert row["jobs"] == 10
    assert {"first_fire_s", "peak_rss_mb", "samples"} <= row.keys()
    assert row["peak_rss_mb"] > 0


def test_login_flood_measures_healthz_before_and_after_for_both_floods(tmp_path: Path) -> None:
    result = run_script(
        "login_flood.py", tmp_path / "flood.json",
        "--attackers", "2", "--seconds", "1", "--idle-seconds", "0.3", "--repeats", "1",
    )  # fmt: skip
    for name in ("before", "after"):
        server = result["servers"][name]
        assert server["idle_healthz_median_ms"] > 0
        for flood in ("one-address", "many-addresses"):
            assert server[flood]["healthz_median_ms"] > 0
            [answers] = server[flood]["login_answers"]
            assert sum(answers.values()) > 0
    # Without the hash slots every login is hashed: nothing is refused as busy.
    assert "503" not in result["servers"]["before"]["many-addresses"]["login_answers"][0]
    assert set(result["healthz_median_ratio_before_over_after"]) == {
        "one-address",
        "many-addresses",
    }


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
    assert {"firing", "startup", "wall_s", "estimate_s", "versions"} <= result.keys()
    assert result["firing"]["rows"] and result["startup"]["rows"]
    assert result["firing"]["aps_sqlite_add_ms_per_job"] > 0
    markdown = out.with_suffix(".md").read_text()
    assert "## Firing precision and capacity" in markdown and "## Targets" in markdown


def firing_row(engine: str, jobs: int, mode: str, p99: float, fires: float) -> dict[str, Any]:
    missed = None if engine.startswith("aps") else round((jobs - fires) * 20)
    return {
        "engine": engine, "jobs": jobs, "mode": mode, "seconds": 20.0, "fires": fires * 20,
        "expected_fires": jobs * 20, "fires_per_s": fires, "p50_ms": p99 / 4, "p99_ms": p99,
        "max_ms": p99 * 2, "cpu_s": 9.5, "peak_rss_mb": 120.4, "missed": missed, "repeats": 3,
        "samples": [],
    }  # fmt: skip


def target_row(
    engine: str, jobs: int, mode: str, target: str, declare: str | None, p99: float
) -> dict[str, Any]:
    row = firing_row(engine, jobs, mode, p99, jobs)
    return {**row, "target": target, "declare": declare, "cpu_us_per_fire": 120.0,
            "tree_cpu_us_per_fire": 130.0, "store_p99_ms": p99 / 2, "coalesced": 0,
            "unstarted": 0}  # fmt: skip


def api_row(target: str, endpoint: str, concurrency: int, p50: float, rps: float) -> dict[str, Any]:
    return {
        "target": target, "jobs": 1000, "endpoint": endpoint, "concurrency": concurrency,
        "repeats": 3, "requests": 900, "errors": 0, "rps": rps, "p50_ms": p50, "p99_ms": p50 * 3,
        "samples": [],
    }  # fmt: skip


def felt_setting(median_ms: float) -> dict[str, Any]:
    figure = {"n": 30, "median_ms": median_ms, "p90_ms": median_ms * 2, "samples_ms": [1.0]}
    pause = {"n": 5, "median_ms": -480.0, "p90_ms": -470.0, "samples_ms": [-480.0] * 5}
    return {
        "response_to_started": figure,
        "queued_to_started": figure,
        "pause_response_to_last_fire": {**pause, "failures": []},
        "failures": [],
    }


def test_report_renders_the_tables_and_judges_each_target(tmp_path: Path) -> None:
    rows = [
        firing_row("aps-memory", 1000, "aligned", 69.4, 1000),
        firing_row("gnomon-sqlite", 1000, "aligned", 40.0, 1000),
        firing_row("gnomon-postgres", 1000, "aligned", 78.4, 1000),
        firing_row("aps-memory", 1000, "spread", 0.41, 1000),
        firing_row("gnomon-postgres", 1000, "spread", 2.78, 1000),
        firing_row("aps-memory", 10000, "spread", 0.82, 10000),
        firing_row("gnomon-sqlite", 10000, "spread", 731.0, 9500),
    ]
    rows[-1]["coalesced"] = 200
    for row in rows:
        row["p99_vs_aps_memory"] = round(row["p99_ms"] / rows[0]["p99_ms"], 2)
    api = [
        api_row("gnomon", "list", 1, 18.0, 55.0),
        api_row("gnomon", "list", 16, 250.0, 60.0),
        api_row("flask-apscheduler", "list", 1, 11.0, 86.2),
        api_row("flask-apscheduler", "list", 16, 190.0, 80.3),
        api_row("gnomon", "get", 1, 2.4, 300.0),
    ]
    for row, other in zip(api[:2], api[2:4], strict=True):
        row["rps_vs_flask_apscheduler"] = round(row["rps"] / other["rps"], 3)
    postgres = target_row("gnomon-postgres", 10000, "spread", "realistic", "toml", 15.0)
    postgres["samples"] = [
        {"p99_ms": p99, "fires_per_s": 10000, "missed": 0, "coalesced": 0, "unstarted": 0}
        for p99 in (10.0, 15.0, 30.0)
    ]
    embedded = target_row("gnomon-sqlite", 10000, "spread", "realistic", "embedded", 12.0)
    embedded["add_s"] = 2.5
    isolated = target_row("gnomon-sqlite", 100, "spread", "isolated", "toml", 30.0)
    isolated["fires_per_s"], isolated["missed"] = 99.5, 4
    targets = [
        target_row("gnomon-sqlite", 1000, "aligned", "realistic", "toml", 40.0),
        target_row("aps-memory", 1000, "aligned", "realistic", None, 49.0),
        target_row("gnomon-sqlite", 1000, "spread", "command", "toml", 3.0),
        isolated, embedded, postgres,
    ]  # fmt: skip
    results = {
        "at": "2026-11-29T12:00:00Z", "plan": "full", "wall_s": 2700.0,
        "targets": {"settings": {"seconds": 20, "warmup": 3, "repeats": 3}, "rows": targets},
        "machine": {"cpus": 2, "python": "3.11.7", "system": "Linux"},
        "versions": {"gnomon": "0.1.0", "APScheduler": "3.11.3", "Flask-APScheduler": "1.13.1"},
        "firing": {
            "settings": {"seconds": 20, "warmup": 3, "repeats": 3,
                         "cap_repeats": [["aps-sqlite", 10000, 1]]},
            "rows": rows, "aps_sqlite_add_ms_per_job": 15.2,
        },
        "api_latency": {"server": "gunicorn", "settings": {"repeats": 3, "requests": 300,
                        "max_seconds": 4}, "rows": api},
        "felt_latency": {"single_node_sqlite": felt_setting(0.47),
                         "across_nodes_postgres": felt_setting(2.81)},
        "startup": {"rows": [{"jobs": 10000, "repeats": 3, "first_fire_s": 4.46,
                              "peak_rss_mb": 203.0}]},
    }  # fmt: skip
    source = tmp_path / "all.json"
    source.write_text(json.dumps(results))
    subprocess.run([sys.executable, str(BENCH / "report.py"), str(source)], check=True, timeout=60)
    markdown = (tmp_path / "all.md").read_text()

    assert "| 1,000 | aligned | gnomon, SQLite | 1,000 of 1,000 | 10.0 | 40.0 |" in markdown
    assert "| 1,000 | `GET /jobs` | 1 | 18.0 | 54.0 | 55.0 | 0 | 11.0 | 33.0 | 86.2 | 0.64 |" in (
        markdown
    )
    assert "aps-sqlite with 10,000 jobs: 1 run only" in markdown
    assert "| 10,000 (+ 200 coalesced) |" in markdown
    verdicts = {
        line.split(" | ")[0].lstrip("| "): line.rstrip(" |").rsplit(" | ", 1)[1]
        for line in markdown.split("## Targets")[1].splitlines()
        if line.startswith("| ") and not line.startswith("| target")
    }
    assert verdicts == {
        "10,000 jobs, phases spread, SQLite: p99 ≤ 10 ms, 0 missed": "**missed**",
        "1,000 jobs, phases aligned: p99 ≤ 50 ms": "met",
        "10,000 jobs, phases aligned: p99 ≤ 500 ms, 0 missed": "–",
        "1,000 jobs, PostgreSQL, spread: 1,000 fires/s, p99 ≤ 20 ms": "met",
        "`GET /jobs`, 1,000 jobs: p50 ≤ 20 ms, ≥ 2× Flask-APScheduler's req/s": "**missed**",
        "`GET /jobs/{id}`: p50 ≤ 3 ms": "met",
        "run requested → started, single node: p50 ≤ 20 ms": "met",
        "run requested → started, across nodes: p50 ≤ 250 ms": "met",
        "start-up, 10,000 jobs: ≤ 2 s to first fire, peak RSS ≤ 200 MB": "**missed**",
        "10,000 jobs, spread, `realistic(run)`, SQLite: every fire, p99 ≤ 20 ms, "
        "≤ 150 µs CPU per fire": "–",
        "10,000 jobs, spread, `realistic(run)`, SQLite, embedded API: every fire, p99 ≤ 20 ms, "
        "≤ 150 µs CPU per fire": "met",
        "10,000 jobs, spread, `realistic(run)`, PostgreSQL: every fire, p99 ≤ 20 ms in each of "
        "3 runs": "**missed**",
        "1,000 jobs, aligned, `realistic(run)`: p99 ≤ APScheduler memory store's": "met",
        "1,000 command jobs (`true`), spread: every fire, p99 ≤ 50 ms": "met",
        "100 process-isolated Python jobs, spread: every fire, p99 ≤ 50 ms": "**missed**",
        "embedded API: adding 10,000 jobs ≤ 2 s": "**missed**",
    }
    assert "| 1,000 | aligned | `realistic(run)` | gnomon, SQLite | 1,000 of 1,000 |" in markdown
    assert "| 100 | spread | `realistic(run)`, process-isolated | gnomon, SQLite |" in markdown
    assert "10,000 jobs (spread) on gnomon, SQLite in 2.5 s" in markdown


def test_embedded_add_compares_both_ways_in_each_mode() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "embedded_add.py"), "--counts", "30", "--rounds", "1",
         "--json"],
        timeout=300, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = json.loads(done.stdout[done.stdout.index("[") :])
    assert [(r["mode"], r["way"]) for r in rows] == [
        ("stopped", "one-by-one"),
        ("stopped", "bulk"),
        ("running", "one-by-one"),
        ("running", "bulk"),
    ]
    assert all(r["jobs"] == 30 and r["wall_s"] > 0 for r in rows)
    assert [r["wall_ratio"] for r in rows][::2] == [1.0, 1.0]


def test_against_alternates_two_checkouts_and_prints_medians_and_ratios() -> None:
    checkout = BENCH.parent  # compared with itself: both sides need a set-up virtualenv
    done = subprocess.run(
        [
            sys.executable, str(BENCH / "against.py"), str(checkout),
            "--jobs", "5", "--rounds", "2", "--seconds", "1", "--warmup", "0.5",
        ],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [
        "round 1 other", "round 1 this", "round 2 other", "round 2 this",
    ]  # fmt: skip
    assert lines[4].startswith("other: p50_ms ") and lines[5].startswith("this: p50_ms ")
    assert lines[6].startswith("this over other, medians: p50_ms ")


def test_wake_cost_prints_the_cost_of_a_sleep_and_a_hand_off() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "wake_cost.py"), "--rounds", "1", "--count", "50"],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout)
    assert set(result) == {"sleep_us", "hand_off_us", "empty_loop_us", "rounds", "count"}
    # A sleep costs more than an empty pass of a loop on any machine.
    assert result["sleep_us"] > result["empty_loop_us"] > 0


def test_floors_prints_the_cost_of_a_body_a_run_and_its_rows() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "floors.py"), "--rounds", "1", "--count", "20"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(done.stdout)
    assert set(result) == {
        "body_realistic", "run_job_noop", "run_job_realistic", "claim_row", "end_row",
        "rounds", "count",
    }  # fmt: skip
    # Every part was timed (no figure is compared with another: that would be a timed test).
    assert all(result[name] > 0 for name in result)
