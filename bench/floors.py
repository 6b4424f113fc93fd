"""What one fire costs at the least: the job's body, a run of it without a scheduler, and its
two rows in the store, each timed alone in one thread.

    python bench/floors.py                      # medians of 5 rounds, SQLite
    python bench/floors.py --rounds 3 --count 1000

The firing benchmark's CPU per fire (bench/firing.py) is these plus the scheduler's own work
(the heap, the claim loop, waking workers; see bench/wake_cost.py for a thread wake). Prints one
JSON object of CPU µs, medians over the rounds:

- body_realistic: `targets:realistic` called with the context of a run, its print going to a
  buffer (`targets:noop` costs well under a microsecond);
- run_job_noop, run_job_realistic: `executors.run_job`, as a worker calls it (the run's
  context, its logger and output capture, the outcome), with no store;
- claim_row: `Store.claim_fires` of fires due now, started by the claim (inserted `running`,
  max_instances judged, the job's next fire time written), in batches of 500, per fire;
- end_row: `Store.update_runs` of their successful ends (guarded transitions), same batches.

The store figures include SQLite's own work and its commit (WAL, on the temporary directory's
disk); the lease check of a leader's claim (one statement a batch) is left out.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from gnomon.domain import (
    JobDefinition,
    JobKind,
    JobRecord,
    Run,
    RunStatus,
    RunUpdate,
    TriggerSource,
    utcnow,
)
from gnomon.engine.context import RunContext
from gnomon.engine.executors import install_output_routing, run_job, uninstall_output_routing
from gnomon.engine.output import DEFAULT_OUTPUT_CAP, OutputBuffer
from gnomon.logs import configure_logging
from gnomon.store import create_store
from gnomon.store.base import FireClaim, JobWrite, RunStart, Store

BATCH = 500
INTERVAL = {"type": "interval", "seconds": 1}


def definition(target: str, job_id: str = "floor") -> JobDefinition:
    return JobDefinition(
        id=job_id,
        name=job_id,
        trigger=INTERVAL,
        kind=JobKind.PYTHON,
        target=target,
    )


def a_run(job_id: str, when: datetime) -> Run:
    """A queued fire of `job_id` at `when`, taken by this benchmark's node."""
    return Run(
        id=str(uuid.uuid4()),
        job_id=job_id,
        trigger_source=TriggerSource.SCHEDULED,
        status=RunStatus.QUEUED,
        queued_at=when,
        scheduled_for=when,
        node="floor-node",
        lease_token=1,
    )


def cpu_per_call(count: int, call: Callable[[], object]) -> float:
    began = time.thread_time()
    for _ in range(count):
        call()
    return (time.thread_time() - began) / count * 1e6


def body(count: int) -> float:
    """`targets:realistic` alone, called with a run's context (each call its own, built
    beforehand); its print goes to a buffer."""
    import targets

    cancel, when = threading.Event(), utcnow()
    contexts = [
        RunContext.for_run(a_run("floor", when), OutputBuffer(DEFAULT_OUTPUT_CAP), cancel)
        for _ in range(count)
    ]
    began = time.thread_time()
    with contextlib.redirect_stdout(io.StringIO()):
        for context in contexts:
            targets.realistic(context)
    return (time.thread_time() - began) / count * 1e6


def run_jobs(target: str, count: int) -> float:
    job = definition(target)
    cancel = threading.Event()
    when = utcnow()
    return cpu_per_call(count, lambda: run_job(job, a_run("floor", when), cancel))


def store_rows(store: Store, records: list[JobRecord], count: int) -> tuple[float, float]:
    """CPU µs per fire of claiming-and-starting and of ending `count` fires, in batches."""
    claim_cpu = end_cpu = 0.0
    done = 0
    while done < count:
        when = utcnow()
        size = min(BATCH, count - done, len(records))
        claims = []
        for record in records[:size]:
            run = a_run(record.id, when)
            start = RunStart(run.id, record.id, max_instances=1)
            claims.append(FireClaim(run, record.revision, when + timedelta(seconds=1), start))
        began = time.thread_time()
        claimed = store.claim_fires(claims)
        claim_cpu += time.thread_time() - began
        if len(claimed) != size or any(r.status is not RunStatus.RUNNING for r in claimed):
            raise RuntimeError("the claims did not all start: the measurement is void")
        ended = utcnow()
        updates = [
            RunUpdate(
                run_id=run.id,
                status=RunStatus.SUCCEEDED,
                finished_at=ended,
                duration_ms=0,
                output="done\n",
                node="floor-node",
                owner="floor-node",
            )
            for run in claimed
        ]
        began = time.thread_time()
        refused = store.update_runs(updates)
        end_cpu += time.thread_time() - began
        if refused:
            raise RuntimeError(f"{len(refused)} end(s) refused: the measurement is void")
        done += size
    return claim_cpu / count * 1e6, end_cpu / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=2000, help="calls or fires per round")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="gnomon-floors-"))
    log_file = (workdir / "floors.log").open("w")
    configure_logging("info", "text", stream=log_file)  # as `gnomon scheduler` logs
    store = create_store(f"sqlite:///{workdir / 'gnomon.db'}")
    store.upgrade()
    records = store.write_jobs(
        [JobWrite(JobRecord(definition("targets:noop", f"job-{i:04d}"), INTERVAL))
         for i in range(BATCH)]
    )  # fmt: skip

    samples: dict[str, list[float]] = {}

    def note(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    install_output_routing()  # as the scheduler does: a run's prints go to its output
    try:
        for _ in range(args.rounds):
            note("body_realistic", body(args.count))
            note("run_job_noop", run_jobs("targets:noop", args.count))
            note("run_job_realistic", run_jobs("targets:realistic", args.count))
            claim, end = store_rows(store, records, args.count)
            note("claim_row", claim)
            note("end_row", end)
    finally:
        uninstall_output_routing()
        logging.shutdown()
        log_file.close()
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    result = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    result |= {"rounds": args.rounds, "count": args.count}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
