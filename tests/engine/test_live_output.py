"""Live output: a run's output reaches its record while it runs (a command, a Python target in a
thread and one in a child process), and the final output replaces it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from gnomon.domain import RunStatus, utcnow
from gnomon.engine.live import TRUNCATED_EVERY, LiveOutput
from gnomon.engine.output import MIN_OUTPUT_CAP, OutputBuffer
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from gnomon.store.base import OutputChunk
from gnomon.store.sql import SqlStore
from tests.conftest import WriteConfig
from tests.e2e.procs import wait_for
from tests.store.test_store_contract import add_job, run

STEPS = "echo first; sleep 2.5; echo second"  # the first line is out long before the end

CONFIG = f"""
[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1

[[jobs]]
id = "gnomon.prune_runs"
trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}

[[jobs]]
id = "command"
command = {json.dumps(STEPS)}
shell = true
trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}

[[jobs]]
id = "thread"
target = "tests.engine.targets:prints_slowly"
trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}

[[jobs]]
id = "process"
target = "tests.engine.targets:prints_slowly"
isolation = "process"
trigger = {{ type = "date", run_date = "2099-01-01T00:00:00Z" }}
"""


@pytest.mark.parametrize("job_id", ["command", "thread", "process"])
def test_a_runs_output_is_in_its_record_before_it_ends(
    job_id: str, write_config: WriteConfig, runtime_factory: Callable[[Path], Runtime]
) -> None:
    runtime = runtime_factory(write_config(CONFIG))
    runtime.start_scheduler()
    wait_for(runtime.jobs.scheduler_running, timeout=10, what="the scheduler to lead")
    started = runtime.jobs.run_now(job_id, Actor("tester"))

    def live() -> bool:
        seen = runtime.store.get_run(started.id)
        return seen.status is RunStatus.RUNNING and "first" in (seen.output or "")

    wait_for(live, timeout=10, what="the first line while the run runs")
    assert "second" not in (runtime.store.get_run(started.id).output or "")
    wait_for(lambda: runtime.store.get_run(started.id).status.is_final, timeout=15, what="the end")
    ended = runtime.store.get_run(started.id)
    assert ended.status is RunStatus.SUCCEEDED
    assert ended.output is not None
    assert ended.output.index("first") < ended.output.index("second")


class ChunkLog(SqlStore):
    """A real store that also keeps the chunks each live write was given."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.chunks: list[OutputChunk] = []

    def write_live_output(self, node: str, outputs: Sequence[OutputChunk]) -> None:
        self.chunks += outputs
        super().write_live_output(node, outputs)


def test_each_look_writes_only_what_was_printed_since_and_whole_output_over_the_cap_seldom(
    tmp_path: Path,
) -> None:
    store = ChunkLog(f"sqlite:///{tmp_path / 'g.db'}")
    store.upgrade()
    try:
        add_job(store, "chatty")
        now = utcnow()
        going = run("chatty", now, status=RunStatus.RUNNING, started_at=now, node="n1")
        store.add_run(going)
        buffer = OutputBuffer(cap=MIN_OUTPUT_CAP)
        clock = [0.0]
        writer = LiveOutput(store, "n1", lambda _: [(going.id, buffer)], monotonic=lambda: clock[0])

        def look(seconds: float) -> list[OutputChunk]:
            clock[0] += seconds
            store.chunks = []
            writer.publish()
            return store.chunks

        buffer.write("line 1\n")
        assert look(1) == [OutputChunk(going.id, "line 1\n")]
        assert look(1) == []  # nothing printed since
        buffer.write("line 2 é\n")
        assert look(1) == [OutputChunk(going.id, "line 2 é\n", append=True)]
        assert store.get_run(going.id).output == buffer.text() == "line 1\nline 2 é\n"

        buffer.write("x" * MIN_OUTPUT_CAP)  # over the cap: the middle is dropped
        assert len(look(1)) == 1
        assert store.get_run(going.id).output == buffer.text()
        assert "omitted" in buffer.text()
        buffer.write("more\n")
        assert look(1) == []  # rewritten whole only every TRUNCATED_EVERY seconds
        (again,) = look(TRUNCATED_EVERY)
        assert not again.append and again.text.endswith("more\n")
        assert store.get_run(going.id).output == buffer.text()
    finally:
        store.close()
