"""The seven contract endpoints' behaviour: reading, changing triggers, actions, reload."""

from __future__ import annotations

import time
from pathlib import Path

from gnomon.domain import JobDefinition, JobKind, utcnow
from gnomon.services.runtime import Runtime
from gnomon.services.views import SYSTEM
from gnomon.triggers import parse_trigger
from tests.api.conftest import API, CONFIG, JOBS, AuthActions, assert_error, assert_ok

RUNS = f"{API}/scheduler/runs"


def add_adhoc_job(runtime: Runtime, job_id: str = "adhoc") -> None:
    trigger = parse_trigger(
        {"trigger_type": "interval", "hours": 2}, default_timezone="UTC", now=utcnow()
    )
    definition = JobDefinition(
        id=job_id, name=job_id, trigger=trigger.to_spec(), kind=JobKind.COMMAND, command=("true",)
    )
    runtime.jobs.add_job(definition, SYSTEM)


def detail_fields(admin: AuthActions, job_id: str) -> dict[str, object]:
    return dict(assert_ok(admin.get(f"{JOBS}/{job_id}")))


# --- reading -----------------------------------------------------------------------------------


def test_list_is_sorted_by_id_and_includes_shipped_jobs(admin: AuthActions) -> None:
    ids = [job["id"] for job in assert_ok(admin.get(JOBS))]
    assert ids == sorted(ids)
    assert {"report", "sleeper", "frozen", "once", "gnomon.prune_runs"} <= set(ids)


def test_list_items_leave_out_detail_fields(admin: AuthActions) -> None:
    item = next(job for job in assert_ok(admin.get(JOBS)) if job["id"] == "report")
    assert "next_run_times" not in item
    assert item["editable_fields"] == ["trigger"]
    assert item["trigger"] == "cron[0 30 2 * * mon-fri 2099] Asia/Shanghai"


def test_detail_has_declared_trigger_next_times_and_recent_runs(admin: AuthActions) -> None:
    job = detail_fields(admin, "report")
    assert job["cron_expression"] == "0 30 2 * * mon-fri 2099"
    assert job["next_run_time"].endswith("+08:00")  # type: ignore[union-attr]
    assert len(job["next_run_times"]) == 5  # type: ignore[arg-type]
    assert job["declared_trigger"]["trigger_type"] == "cron"  # type: ignore[index]
    assert job["recent_runs"] == []
    assert job["state"] == "scheduled"


def test_locked_job_has_no_editable_fields(admin: AuthActions) -> None:
    assert detail_fields(admin, "frozen")["editable_fields"] == []


def test_date_in_the_past_is_finished(admin: AuthActions) -> None:
    assert detail_fields(admin, "once")["state"] == "finished"


# --- PUT ---------------------------------------------------------------------------------------


def test_put_changes_the_trigger_and_answers_the_job(admin: AuthActions) -> None:
    response = admin.put(
        f"{JOBS}/report", json={"trigger_type": "cron", "cron_expression": "0 15 * * *"}
    )
    job = assert_ok(response)
    assert job["cron_expression"] == "0 0 15 * * * *"
    assert job["overridden"] is True
    assert job["timezone"] == "Asia/Shanghai"  # omitted: the job keeps its timezone
    assert len(job["next_run_times"]) == 5
    assert detail_fields(admin, "report")["cron_expression"] == "0 0 15 * * * *"


def test_put_with_separate_cron_fields(admin: AuthActions) -> None:
    job = assert_ok(admin.put(f"{JOBS}/report", json={"trigger_type": "cron", "cron_hour": "3"}))
    assert job["cron_expression"] == "0 0 3 * * * *"


def test_put_interval_and_date_triggers(admin: AuthActions) -> None:
    job = assert_ok(
        admin.put(
            f"{JOBS}/report", json={"trigger_type": "interval", "minutes": 30, "timezone": "UTC"}
        )
    )
    assert job["trigger_type"] == "interval"
    assert job["timezone"] == "UTC"
    job = assert_ok(
        admin.put(f"{JOBS}/report", json={"trigger_type": "date", "run_date": "2199-01-01"})
    )
    assert job["trigger_type"] == "date"
    assert job["timezone"] == "UTC"  # kept from the previous change


def test_put_keeps_a_paused_job_paused(admin: AuthActions) -> None:
    assert_ok(admin.post(f"{JOBS}/report/actions/pause"))
    job = assert_ok(admin.put(f"{JOBS}/report", json={"trigger_type": "cron", "cron_hour": "5"}))
    assert job["state"] == "paused"
    assert job["next_run_time"] is None


def test_put_unknown_key_is_named(admin: AuthActions) -> None:
    trigger = {"trigger_type": "cron", "cron_expression": "0 0 4 * * *", "bogus": 1}
    body = assert_error(admin.put(f"{JOBS}/report", json=trigger), 400, "VALIDATION_ERROR")
    assert {"field": "bogus", "message": "unknown key"} in body["details"]


def test_put_with_the_config_files_key_names_says_which_to_use(admin: AuthActions) -> None:
    trigger = {"type": "cron", "expression": "0 0 4 * * *"}
    body = assert_error(admin.put(f"{JOBS}/report", json=trigger), 400, "VALIDATION_ERROR")
    assert {"field": "type", "message": "unknown key; did you mean 'trigger_type'?"} in body[
        "details"
    ]
    assert {
        "field": "expression",
        "message": "unknown key; did you mean 'cron_expression'?",
    } in body["details"]


def test_put_wrong_type_is_named(admin: AuthActions) -> None:
    body = assert_error(
        admin.put(f"{JOBS}/report", json={"trigger_type": "interval", "hours": "two"}),
        400,
        "VALIDATION_ERROR",
    )
    assert [d["field"] for d in body["details"]] == ["hours"]


def test_put_bad_cron_names_the_field_and_the_cron_part(admin: AuthActions) -> None:
    body = assert_error(
        admin.put(
            f"{JOBS}/report", json={"trigger_type": "cron", "cron_expression": "0 0 25 * * *"}
        ),
        400,
        "VALIDATION_ERROR",
    )
    [detail] = body["details"]
    assert detail["field"] == "cron_expression"
    assert "hour" in detail["message"]
    assert "25" in detail["message"]
    assert "cron_expression" in body["message"]


def test_put_without_trigger_type_is_named(admin: AuthActions) -> None:
    body = assert_error(
        admin.put(f"{JOBS}/report", json={"cron_expression": "0 0 4 * * *"}),
        400,
        "VALIDATION_ERROR",
    )
    assert "trigger_type" in [d["field"] for d in body["details"]]


def test_put_unknown_timezone_is_a_400(admin: AuthActions) -> None:
    body = assert_error(
        admin.put(
            f"{JOBS}/report",
            json={"trigger_type": "cron", "cron_hour": "1", "timezone": "Mars/Base"},
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert [d["field"] for d in body["details"]] == ["timezone"]


def test_put_body_must_be_a_json_object(admin: AuthActions) -> None:
    for body in ([1, 2], "cron", None):
        error = assert_error(admin.put(f"{JOBS}/report", json=body), 400, "VALIDATION_ERROR")
        assert error["details"][0]["field"] == "body"


def test_put_invalid_trigger_changes_nothing(admin: AuthActions) -> None:
    nonsense = {"trigger_type": "cron", "cron_expression": "nonsense"}
    assert_error(admin.put(f"{JOBS}/report", json=nonsense), 400, "VALIDATION_ERROR")
    job = detail_fields(admin, "report")
    assert job["overridden"] is False
    assert job["cron_expression"] == "0 30 2 * * mon-fri 2099"


def test_put_locked_job_is_not_editable(admin: AuthActions) -> None:
    body = assert_error(
        admin.put(f"{JOBS}/frozen", json={"trigger_type": "cron", "cron_hour": "1"}),
        403,
        "JOB_NOT_EDITABLE",
    )
    assert body["context"]["job_id"] == "frozen"


def test_put_adhoc_job_is_not_editable(admin: AuthActions, runtime: Runtime) -> None:
    add_adhoc_job(runtime)
    assert_error(
        admin.put(f"{JOBS}/adhoc", json={"trigger_type": "cron", "cron_hour": "1"}),
        403,
        "JOB_NOT_EDITABLE",
    )
    # Other actions work on ad-hoc and locked jobs.
    assert assert_ok(admin.post(f"{JOBS}/adhoc/actions/pause"))["state"] == "paused"
    assert assert_ok(admin.post(f"{JOBS}/frozen/actions/pause"))["state"] == "paused"


# --- pause / resume / run ----------------------------------------------------------------------


def test_pause_and_resume_are_idempotent(admin: AuthActions) -> None:
    for _ in range(2):
        job = assert_ok(admin.post(f"{JOBS}/report/actions/pause"))
        assert job["state"] == "paused"
        assert job["next_run_time"] is None
    for _ in range(2):
        job = assert_ok(admin.post(f"{JOBS}/report/actions/resume", json={}))
        assert job["state"] == "scheduled"
        assert job["next_run_time"] is not None


def test_resume_without_future_fire_time_is_409_and_keeps_the_job(admin: AuthActions) -> None:
    assert_ok(admin.post(f"{JOBS}/once/actions/pause"))
    body = assert_error(admin.post(f"{JOBS}/once/actions/resume"), 409, "JOB_HAS_NO_NEXT_RUN")
    assert body["context"]["job_id"] == "once"
    assert detail_fields(admin, "once")["state"] == "paused"


def wait_for_final(admin: AuthActions, run_id: str, timeout: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        run = dict(assert_ok(admin.get(f"{RUNS}/{run_id}")))
        if run["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


def test_run_answers_ids_and_a_second_run_is_job_already_running(admin: AuthActions) -> None:
    data = assert_ok(admin.post(f"{JOBS}/sleeper/actions/run"))
    assert set(data) == {"manual_job_id", "run_id"}
    assert data["manual_job_id"] and len(data["run_id"]) == 36
    body = assert_error(admin.post(f"{JOBS}/sleeper/actions/run"), 409, "JOB_ALREADY_RUNNING")
    assert body["context"]["run_id"] == data["run_id"]
    assert body["context"]["max_instances"] == 1
    cancelled = assert_ok(admin.post(f"{RUNS}/{data['run_id']}/actions/cancel"))
    assert cancelled["cancel_requested"] is True
    run = wait_for_final(admin, data["run_id"])
    assert run["status"] == "cancelled"
    assert run["trigger_source"] == "manual"
    assert_error(admin.post(f"{RUNS}/{data['run_id']}/actions/cancel"), 409, "RUN_NOT_CANCELLABLE")


def test_a_paused_job_can_be_run(admin: AuthActions) -> None:
    assert_ok(admin.post(f"{JOBS}/report/actions/pause"))
    data = assert_ok(admin.post(f"{JOBS}/report/actions/run"))
    run = wait_for_final(admin, data["run_id"])
    assert run["status"] == "succeeded"
    assert run["manual_job_id"] == data["manual_job_id"]


# --- reload ------------------------------------------------------------------------------------


def test_reload_resets_overrides_pauses_and_drops_adhoc_jobs(
    admin: AuthActions, runtime: Runtime
) -> None:
    add_adhoc_job(runtime)
    assert_ok(admin.put(f"{JOBS}/report", json={"trigger_type": "cron", "cron_hour": "7"}))
    assert_ok(admin.post(f"{JOBS}/sleeper/actions/pause"))
    data = assert_ok(admin.post(f"{JOBS}/actions/reload"))
    assert data["removed"] == ["adhoc"]
    assert data["added"] == []
    assert data["changed"] == ["report", "sleeper"]
    assert "adhoc" in data["deleted"] and "adhoc" not in data["reloaded"]
    assert data["deleted_count"] == len(data["deleted"])
    assert data["reloaded_count"] == len(data["reloaded"]) == 5
    assert detail_fields(admin, "report")["overridden"] is False
    assert detail_fields(admin, "sleeper")["state"] == "scheduled"
    assert_error(admin.get(f"{JOBS}/adhoc"), 404, "JOB_NOT_FOUND")


def test_reload_picks_up_new_declarations(admin: AuthActions, config_path: Path) -> None:
    fresh = 'id = "fresh"\ncommand = ["true"]\ntrigger = { type = "date", run_date = "2099-01-01" }'
    config_path.write_text(config_path.read_text() + f"\n[[jobs]]\n{fresh}\n")
    data = assert_ok(admin.post(f"{JOBS}/actions/reload"))
    assert data["added"] == ["fresh"]
    assert detail_fields(admin, "fresh")["is_builtin"] is True


def test_reload_with_broken_config_is_400_and_changes_nothing(
    admin: AuthActions, config_path: Path
) -> None:
    assert_ok(admin.post(f"{JOBS}/sleeper/actions/pause"))
    before = assert_ok(admin.get(JOBS))
    broken = CONFIG.replace('expression = "0 30 2 * * mon-fri 2099"', 'expression = "0 99 2 * * *"')
    config_path.write_text('data_dir = "data"\n' + broken + '\n[[jobs]]\nid = "x"\nbogus = 1\n')
    body = assert_error(admin.post(f"{JOBS}/actions/reload"), 400, "CONFIG_INVALID")
    fields = {d["field"] for d in body["details"]}
    assert "jobs[0].trigger.expression" in fields
    assert "jobs[5].bogus" in fields
    assert str(config_path) not in body["message"]
    after = assert_ok(admin.get(JOBS))
    assert [j["id"] for j in after] == [j["id"] for j in before]
    assert detail_fields(admin, "sleeper")["state"] == "paused"
