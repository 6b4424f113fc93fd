"""gnomon inside an application: ad-hoc jobs added from Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gnomon
import gnomon.embedded
from gnomon.domain import Isolation, Run, RunStatus
from gnomon.errors import JobExists, JobNotEditable, ValidationFailed
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for
from tests.engine import targets


def test_importing_gnomon_loads_no_database_code() -> None:
    code = (
        "import gnomon, sys; print('sqlalchemy' in sys.modules, 'gnomon.store.sql' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_ad_hoc_job_runs_and_cannot_be_retriggered(write_config: WriteConfig) -> None:
    config = write_config(
        """
        [scheduler]
        timezone = "UTC"
        poll_interval = 0.2

        [[jobs]]
        id = "gnomon.prune_runs"
        trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
        """
    )
    scheduler = gnomon.Scheduler(config, env={})
    with scheduler:
        view = scheduler.add_job(
            targets.ok, {"trigger_type": "interval", "seconds": 1}, id="adhoc-ok"
        )
        assert not view.record.definition.is_builtin
        assert view.editable_fields == []
        with pytest.raises(JobExists):
            scheduler.add_job(targets.ok, {"trigger_type": "interval", "seconds": 1}, id="adhoc-ok")
        with pytest.raises(JobNotEditable):
            scheduler.runtime.jobs.update_trigger(
                "adhoc-ok", {"trigger_type": "interval", "seconds": 5}, gnomon.embedded.APPLICATION
            )

        def succeeded() -> bool:
            page = scheduler.runtime.runs.list_runs(job_id="adhoc-ok", status=RunStatus.SUCCEEDED)
            return bool(page.items)

        wait_for(succeeded, timeout=10, what="the ad-hoc job to run")
        scheduler.remove_job("adhoc-ok")
        assert [j.id for j in scheduler.get_jobs()] == ["gnomon.prune_runs"]


def test_add_job_refuses_a_local_function(tmp_path: Path) -> None:
    def local() -> None:
        pass

    with pytest.raises(ValueError, match="module-level"):
        gnomon.embedded.target_of(local)


def test_an_ad_hoc_job_can_run_in_a_child_process(write_config: WriteConfig) -> None:
    config = write_config(
        '[scheduler]\ntimezone = "UTC"\npoll_interval = 0.2\n'
        '[[jobs]]\nid = "gnomon.prune_runs"\nenabled = false\n'
    )
    with gnomon.Scheduler(config, env={}) as scheduler:
        every_second = {"trigger_type": "interval", "seconds": 1}
        view = scheduler.add_job(targets.chatty, every_second, id="adhoc-proc", isolation="process")
        assert view.record.definition.isolation is Isolation.PROCESS
        with pytest.raises(ValidationFailed, match="isolation"):
            scheduler.add_job(targets.ok, every_second, id="adhoc-bad", isolation="fork")

        def succeeded() -> list[Run]:
            page = scheduler.runtime.runs.list_runs(job_id="adhoc-proc", status=RunStatus.SUCCEEDED)
            return page.items

        wait_for(succeeded, timeout=10, what="the process-isolated job to run")
        [run, *_] = succeeded()
        output = scheduler.runtime.runs.get_run(run.id).output or ""
        assert "straight to file descriptor 1" in output
        child_pid = int(output.split("return value: ")[1].split()[0])
        assert child_pid != os.getpid()


def test_ad_hoc_jobs_take_the_configured_isolation_by_default(write_config: WriteConfig) -> None:
    config = write_config(
        '[scheduler]\ntimezone = "UTC"\nisolation = "process"\n'
        '[[jobs]]\nid = "gnomon.prune_runs"\nenabled = false\n'
    )
    scheduler = gnomon.Scheduler(config, env={})
    scheduler.runtime.prepare_store()
    try:
        view = scheduler.add_job(targets.ok, {"trigger_type": "interval", "seconds": 60}, id="x")
    finally:
        scheduler.shutdown()
    assert view.record.definition.isolation is Isolation.PROCESS


def test_ad_hoc_jobs_tell_the_default_channels_or_their_own(write_config: WriteConfig) -> None:
    config = write_config(
        '[scheduler]\ntimezone = "UTC"\nnotify = ["ops"]\n'
        '[[notifications]]\nid = "ops"\ntype = "webhook"\nurl = "http://127.0.0.1:9/x"\n'
        '[[notifications]]\nid = "chat"\ntype = "slack"\nurl = "http://127.0.0.1:9/y"\n'
        'on = ["failed"]\n'
        '[[jobs]]\nid = "gnomon.prune_runs"\nenabled = false\n'
    )
    scheduler = gnomon.Scheduler(config, env={})
    scheduler.runtime.prepare_store()
    every = {"trigger_type": "interval", "seconds": 60}
    try:
        default = scheduler.add_job(targets.ok, every, id="a").record.definition
        own = scheduler.add_job(targets.ok, every, id="b", notify=["chat"]).record.definition
        none = scheduler.add_job(targets.ok, every, id="c", notify=[]).record.definition
        with pytest.raises(ValidationFailed) as info:
            scheduler.add_job(targets.ok, every, id="d", notify=["ghost"])
    finally:
        scheduler.shutdown()
    assert [r.channel for r in default.notify] == ["ops"]
    assert [(r.channel, sorted(r.events)) for r in own.notify] == [("chat", ["failed"])]
    assert none.notify == ()
    assert info.value.problems[0].field == "notify[0]"
