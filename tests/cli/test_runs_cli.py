"""`gnomon runs list|show|cancel` on a real SQLite store holding runs written directly."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli import cli
from gnomon.domain import Run, RunStatus, TriggerSource
from gnomon.services.runtime import Runtime
from gnomon.services.views import CONFIG as CONFIG_ACTOR
from tests.conftest import WriteConfig

CONFIG = """
[scheduler]
timezone = "UTC"

[[jobs]]
id = "nightly"
command = ["true"]
trigger = { type = "cron", expression = "0 30 2 * * * 2099" }

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""

T0 = datetime(2026, 5, 4, 2, 30, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(
    write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> tuple[Path, Runtime]:
    """A config and a migrated store with its declared jobs registered."""
    config = write_config(CONFIG)
    runtime = runtime_factory(config)
    runtime.jobs.sync_declared(CONFIG_ACTOR)
    return config, runtime


def invoke(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--config", str(config)])
    return result.exit_code, result.output


def add(runtime: Runtime, run_id: str, **fields: object) -> Run:
    values: dict[str, object] = {
        "job_id": "nightly",
        "trigger_source": TriggerSource.SCHEDULED,
        "status": RunStatus.SUCCEEDED,
        "queued_at": T0,
    }
    values.update(fields)
    return runtime.store.add_run(Run(id=run_id, **values))  # type: ignore[arg-type]


def test_runs_list_shows_when_each_run_was_queued_and_started_and_how_long_it_took(
    store: tuple[Path, Runtime],
) -> None:
    config, runtime = store
    add(
        runtime,
        "0196a1b2-0000-7000-8000-000000000001",
        scheduled_for=T0,
        queued_at=T0,
        started_at=at(0.25),
        finished_at=at(2.75),
        duration_ms=2500,
    )
    # A manual run has no scheduled time: the table says when it was queued and started.
    add(
        runtime,
        "0196a1b2-0000-7000-8000-000000000002",
        trigger_source=TriggerSource.MANUAL,
        queued_at=at(3600),
        started_at=at(3600.5),
        finished_at=at(3600 + 125.5),
        duration_ms=125_000,
        status=RunStatus.FAILED,
    )
    add(
        runtime,
        "0196a1b2-0000-7000-8000-000000000003",
        trigger_source=TriggerSource.MANUAL,
        queued_at=at(7200),
        status=RunStatus.QUEUED,
    )
    code, out = invoke(config, "runs", "list")
    assert code == 0, out
    assert [line.split("  ") for line in out.splitlines()] == [
        line.split("  ")
        for line in [
            "ID                                    JOB      STATUS     SOURCE     SCHEDULED FOR"
            "        QUEUED               STARTED              DURATION",
            "0196a1b2-0000-7000-8000-000000000003  nightly  queued     manual     -            "
            "        2026-05-04 04:30:00  -                    -",
            "0196a1b2-0000-7000-8000-000000000002  nightly  failed     manual     -            "
            "        2026-05-04 03:30:00  2026-05-04 03:30:00  2m 05s",
            "0196a1b2-0000-7000-8000-000000000001  nightly  succeeded  scheduled  2026-05-04 02:"
            "30:00  2026-05-04 02:30:00  2026-05-04 02:30:00  2.5 s",
            "(times in UTC)",
        ]
    ]
    code, out = invoke(config, "runs", "list", "--json")
    items = json.loads(out)["items"]
    assert [i["queued_at"] for i in items] == [
        "2026-05-04T04:30:00+00:00",
        "2026-05-04T03:30:00+00:00",
        "2026-05-04T02:30:00+00:00",
    ]


def test_a_running_run_shows_how_long_it_has_run_so_far(store: tuple[Path, Runtime]) -> None:
    config, runtime = store
    started = datetime.now(UTC) - timedelta(seconds=90)
    add(
        runtime,
        "0196a1b2-0000-7000-8000-000000000004",
        status=RunStatus.RUNNING,
        queued_at=started,
        started_at=started,
    )
    add(
        runtime,
        "0196a1b2-0000-7000-8000-000000000005",
        queued_at=started,
        started_at=started,
        finished_at=started,
        duration_ms=42,
    )
    code, out = invoke(config, "runs", "list")
    assert code == 0, out
    assert re.search(r"running .* 1m 3[01]s so far$", out.splitlines()[2]), out
    assert out.splitlines()[1].endswith("  42 ms"), out


def test_runs_list_says_when_there_are_none(store: tuple[Path, Runtime]) -> None:
    config, _ = store
    code, out = invoke(config, "runs", "list")
    assert (code, out.splitlines()[1:]) == (0, ["no runs"])


A = "0196a1b2-0000-7000-8000-00000000000a"
B = "0196a1b2-0000-7000-8000-00000000000b"
C = "0196a1b3-0000-7000-8000-00000000000c"


def test_a_run_id_may_be_shortened_to_any_unique_start(store: tuple[Path, Runtime]) -> None:
    config, runtime = store
    for run_id in (A, B, C):
        add(runtime, run_id)
    for given in ("0196a1b3", "0196A1B3", "0196a1b3-0000", "0196a1b300007", C, C.replace("-", "")):
        code, out = invoke(config, "runs", "show", given)
        assert code == 0, out
        assert out.splitlines()[0] == f"id:                 {C}"
    code, out = invoke(config, "runs", "show", A[:-1] + "A", "--json")
    assert (code, json.loads(out)["id"]) == (0, A)


def test_an_ambiguous_run_id_lists_the_runs_it_could_mean(store: tuple[Path, Runtime]) -> None:
    config, runtime = store
    for run_id in (A, B, C):
        add(runtime, run_id)
    code, out = invoke(config, "runs", "show", "0196a1b2")
    assert code == 2
    assert out.splitlines() == [
        "error: run id '0196a1b2' is ambiguous (it starts the ids of 2 runs); give more of it",
        f"  - {A}",
        f"  - {B}",
    ]
    code, out = invoke(config, "runs", "cancel", "0196a")
    assert code == 2 and "(it starts the ids of 3 runs)" in out
    assert runtime.runs.get_run(A).status is RunStatus.SUCCEEDED


def test_too_short_or_unknown_run_ids_are_refused(store: tuple[Path, Runtime]) -> None:
    config, runtime = store
    add(runtime, A)
    code, out = invoke(config, "runs", "show", "019")
    assert (code, out.splitlines()[0]) == (2, "error: run id '019' is too short")
    assert "give at least 4 characters" in out
    code, out = invoke(config, "runs", "show", "0196a1b4")
    assert (code, out.strip()) == (3, "error: run '0196a1b4' does not exist")


def test_many_matching_runs_are_listed_ten_and_more(store: tuple[Path, Runtime]) -> None:
    config, runtime = store
    ids = [f"0196a1b2-0000-7000-8000-0000000000{i:02d}" for i in range(12)]
    for run_id in ids:
        add(runtime, run_id)
    code, out = invoke(config, "runs", "show", "0196a1b2")
    assert code == 2
    assert "(it starts the ids of more than 10 runs)" in out
    assert out.splitlines()[1:] == [f"  - {i}" for i in ids[:10]] + ["  - … and more"]


def test_runs_cancel_cancels_a_queued_run_at_once_and_then_refuses(
    store: tuple[Path, Runtime],
) -> None:
    config, runtime = store
    add(runtime, A, status=RunStatus.QUEUED, trigger_source=TriggerSource.MANUAL)
    code, out = invoke(config, "runs", "cancel", A[:13])
    assert (code, out.strip()) == (0, f"cancelled run {A} (nightly)")
    assert runtime.runs.get_run(A).status is RunStatus.CANCELLED
    code, out = invoke(config, "runs", "cancel", A)
    assert (code, out.strip()) == (4, f"error: run {A} is cancelled and can no longer be cancelled")
    audit = runtime.store.list_audit(limit=10)
    assert [(e.actor, e.action, e.after) for e in audit if e.action == "run.cancel"] == [
        ("cli", "run.cancel", {"run_id": A})
    ]


def test_runs_cancel_asks_a_running_run_to_stop(store: tuple[Path, Runtime]) -> None:
    config, runtime = store
    add(runtime, A, status=RunStatus.RUNNING, node="elsewhere", started_at=T0)
    code, out = invoke(config, "runs", "cancel", A, "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert (doc["id"], doc["status"], doc["cancel_requested"]) == (A, "running", True)
    add(runtime, B, status=RunStatus.RUNNING, node="elsewhere", started_at=T0)
    code, out = invoke(config, "runs", "cancel", B)
    assert code == 0, out
    assert out.startswith(f"cancellation requested for run {B} (nightly, running)")


def test_runs_cancel_of_an_unknown_run_exits_3(store: tuple[Path, Runtime]) -> None:
    config, _ = store
    code, out = invoke(config, "runs", "cancel", "no-such-run")
    assert (code, out.strip()) == (3, "error: run 'no-such-run' does not exist")


def test_a_retry_shows_its_attempt_and_cancelling_its_failed_run_cancels_it(
    store: tuple[Path, Runtime],
) -> None:
    config, runtime = store
    failed = "0196a1b2-0000-7000-8000-00000000000a"
    retry = "0196a1b2-0000-7000-8000-00000000000b"
    add(runtime, failed, status=RunStatus.FAILED, scheduled_for=T0, finished_at=at(1))
    add(
        runtime,
        retry,
        trigger_source=TriggerSource.RETRY,
        status=RunStatus.QUEUED,
        queued_at=at(1),
        attempt=2,
        retry_of=failed,
        not_before=at(31),
    )
    code, out = invoke(config, "runs", "list")
    assert code == 0, out
    [line] = [line for line in out.splitlines() if line.startswith(retry)]
    assert line.split()[2:5] == ["queued", "retry", "#2"]
    code, out = invoke(config, "runs", "show", retry.replace("-", ""))
    assert code == 0, out
    assert f"retry_of:           {failed}" in out
    assert "attempt:            2" in out

    code, out = invoke(config, "runs", "cancel", failed)
    assert code == 0, out
    assert runtime.store.get_run(retry).status is RunStatus.CANCELLED
    assert runtime.store.get_run(failed).status is RunStatus.FAILED
    code, out = invoke(config, "runs", "cancel", failed)  # nothing left to cancel
    assert code == 4, out
