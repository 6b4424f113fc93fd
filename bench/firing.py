"""Firing precision and capacity: N interval jobs every second, in one engine, in this process.

    python bench/firing.py --engine gnomon-sqlite --jobs 1000 --mode spread --seconds 20

Engines: `gnomon-sqlite` and `gnomon-postgres` (gnomon's scheduler with run records written),
`aps-memory` (bare APScheduler 3, memory job store, no persistence) and `aps-sqlite` (APScheduler
3 with its SQLAlchemy job store on SQLite). Phases are spread evenly over the second (`spread`) or
all due at the same instant (`aligned`). Prints one JSON object: p50/p99/max lateness (actual
start − scheduled time) in ms, fires/s achieved vs expected, CPU seconds and peak RSS. Run it in a
fresh process per measurement (bench/run_all.py does).

`--target` is what each job runs: `noop` (a function doing nothing), `realistic` (takes the `run`
context, reads `run.scheduled_for`, logs one line with `run.logger` and prints one line, as real
jobs do; gnomon's logging is set up as `gnomon scheduler` sets it up, writing to a file;
APScheduler's job does the same with a logger and print of its own, to /dev/null), `isolated` (the
same body in a job with `isolation = "process"`: each run in a child process, which appends its
body's start to a file; declared in TOML, these jobs run under `gnomon scheduler` in a process of
its own, see run_gnomon) or `command` (the program `true`). For `realistic` and `isolated`,
lateness is taken inside the job's body (when the user's code starts), not from the store's
started_at, which is also reported (`store_p50_ms`, `store_p99_ms`, `store_fires`: runs the store
saw start in the window). A command has no body to measure in: its lateness is the store's
started_at, taken just before the program is started. `command` and `isolated` are gnomon's only:
APScheduler 3 has no command jobs, and its process pool runs a pickled function (no per-run process
of its own to stop, no run record), so no equivalent is measured.

`--declare` is how gnomon's jobs are made: `toml` (in the configuration the scheduler loads, as
`gnomon scheduler` runs it) or `embedded` (a `gnomon.Scheduler` in this process, started with
no jobs, then given them in one `add_jobs` call, as an application embedding gnomon does;
`add_s` is that call's time). Python targets only. The embedded scheduler runs as
`gnomon.Scheduler.start()` runs it in an application: unlike `gnomon scheduler`, it leaves the
process's garbage collector and multiprocessing's forkserver preload alone.

`cpu_us_per_fire` is this process's CPU time during the measurement window per fire started in
it (for `isolated`: the `gnomon scheduler` process's); `tree_cpu_us_per_fire` adds the
processes it started (command runs, and the forkserver with the process-isolated runs it forks).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import cputime  # noqa: E402
import targets  # noqa: E402
from processes import LoggedProcess  # noqa: E402

PG_URL = os.environ.get(
    "GNOMON_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gnomon_bench"
)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def phases(count: int, mode: str) -> list[float]:
    return [i / count for i in range(count)] if mode == "spread" else [0.0] * count


def summarise(
    lateness_s: list[float],
    jobs: int,
    seconds: float,
    rusage_of: int = resource.RUSAGE_SELF,
    **extra: Any,
) -> dict[str, Any]:
    """The figures of one run; CPU seconds and peak RSS of `rusage_of`: this process, or (with
    RUSAGE_CHILDREN) the `gnomon scheduler` process it started and waited for, with that
    process's own ended children (its command runs; not the forkserver's)."""
    usage = resource.getrusage(rusage_of)
    ms = [x * 1000 for x in lateness_s]
    return {
        "fires": len(ms),
        "expected_fires": int(jobs * seconds),
        "fires_per_s": round(len(ms) / seconds, 1),
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **extra,
    }


# --- gnomon ----------------------------------------------------------------------------------


_BODIES = {
    "noop": 'target = "targets:noop"',
    "realistic": 'target = "targets:realistic"',
    "command": 'command = ["true"]',
    "isolated": 'target = "targets:realistic_isolated"\nisolation = "process"',
}
#: Targets whose lateness is taken in the job's body.
FELT_TARGETS = ("realistic", "isolated")


def gnomon_config(
    path: Path,
    jobs: int,
    mode: str,
    base: datetime,
    store_url: str,
    target: str = "noop",
    declare: str = "toml",
) -> None:
    """The scheduler's configuration; its jobs too when they are declared in TOML."""
    lines = [
        f'data_dir = "{path.parent}"',
        "[store]",
        f'url = "{store_url}"',
        "[scheduler]",
        'timezone = "UTC"',
        "pool_size = 16",
        "shutdown_grace = 5",
        f'python_path = ["{BENCH_DIR}"]',
        "[[jobs]]",
        'id = "gnomon.prune_runs"',
        "enabled = false",
    ]
    felt_env = f'env = {{ {targets.FELT_FILE} = "{felt_file(path.parent)}" }}'
    for index, phase in enumerate(phases(jobs, mode) if declare == "toml" else []):
        start = (base + timedelta(seconds=phase)).isoformat()
        lines += [
            "[[jobs]]",
            f'id = "j{index:05d}"',
            _BODIES[target],
            *([felt_env] if target == "isolated" else []),
            f'trigger = {{ type = "interval", seconds = 1, start_date = "{start}" }}',
        ]
    path.write_text("\n".join(lines) + "\n")


def felt_file(workdir: Path) -> Path:
    """Where process-isolated runs write their bodies' start times."""
    return workdir / "felt.txt"


def embedded_jobs(jobs: int, mode: str, base: datetime, target: str, workdir: Path) -> list[Any]:
    """The jobs `gnomon_config` declares, as `gnomon.Scheduler.add_jobs` items."""
    options: dict[str, Any] = {}
    if target == "isolated":
        options = {"isolation": "process", "env": {targets.FELT_FILE: str(felt_file(workdir))}}
    func = {"noop": "targets:noop", "realistic": "targets:realistic"}.get(
        target, "targets:realistic_isolated"
    )
    return [
        {
            "func": func,
            "trigger": "interval",
            "seconds": 1,
            "start_date": base + timedelta(seconds=phase),
            "id": f"j{index:05d}",
            **options,
        }
        for index, phase in enumerate(phases(jobs, mode))
    ]


def reset_postgres(url: str) -> None:
    """Drop and create the benchmark's own database (named by the URL) for a clean start."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    base, _, name = dsn.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def log_as_gnomon_scheduler(stream: TextIO) -> None:
    """Set logging up as `gnomon scheduler` does (INFO and above, text lines), into `stream`.
    An earlier checkout compared by bench/against.py may predate gnomon.logs: then as its
    `gnomon scheduler` did, with logging.basicConfig."""
    try:
        from gnomon.logs import configure_logging
    except ModuleNotFoundError as missing:
        if missing.name != "gnomon.logs":
            raise  # gnomon.logs is there and broken: not an earlier checkout
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
            stream=stream,
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)
        return
    configure_logging("info", "text", stream=stream)


def run_gnomon(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="gnomon-bench-"))
    if args.engine == "gnomon-postgres":
        store_url = args.pg_url
        reset_postgres(store_url)
    else:
        store_url = f"sqlite:///{workdir / 'gnomon.db'}"
    config = workdir / "gnomon.toml"
    base = datetime(2020, 1, 1, tzinfo=UTC)
    gnomon_config(config, args.jobs, args.mode, base, store_url, args.target, args.declare)
    started = time.perf_counter()
    wall_start = datetime.now(UTC)
    extra: dict[str, Any] = {}
    read_cpu = own_and_tree_cpu
    engine_usage = resource.RUSAGE_SELF
    abandon: Callable[[], None] = _nothing  # what to end if the measurement fails
    in_process = args.declare == "embedded" or args.target != "isolated"
    if in_process:
        # Logging as `gnomon scheduler` sets it up (INFO and above, text lines), into a file
        # rather than a terminal: jobs' log lines are formatted and written, as users' are.
        log = (workdir / "bench.log").open("w", encoding="utf-8")
        log_as_gnomon_scheduler(log)
    if args.declare == "embedded":
        import gnomon

        embedded = gnomon.Scheduler(config, env={})
        embedded.start()
        items = embedded_jobs(args.jobs, args.mode, base, args.target, workdir)
        adding = time.perf_counter()
        embedded.add_jobs(items)
        extra["add_s"] = round(time.perf_counter() - adding, 2)
        stop = embedded.shutdown
    elif args.target == "isolated":
        # Every process-isolated run's child runs the main script of the scheduler's process
        # again (multiprocessing's rule, so that what it defines can be unpickled). Under
        # `gnomon scheduler` that is gnomon's console script, a few lookups; this script,
        # compiled and importing what it imports in every child, would add about 20 ms of CPU
        # to each run that users' runs never pay. So these cells run `gnomon scheduler`.
        scheduler = SchedulerProcess(config, workdir)
        abandon = scheduler.kill
        try:
            scheduler.wait_leading(timeout=60)
        except BaseException:
            abandon()
            raise
        stop, read_cpu = scheduler.stop_cleanly, scheduler.cpu
        engine_usage = resource.RUSAGE_CHILDREN
    else:
        from gnomon.services.runtime import Runtime

        runtime = Runtime.from_config_file(config, env={})
        runtime.prepare_store()
        runtime.start_scheduler(own_process=True)  # as `gnomon scheduler` runs it
        stop = runtime.close
    setup_s = time.perf_counter() - started
    window_start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1 + args.warmup)
    window_end = window_start + timedelta(seconds=args.seconds)
    cpu = cpu_in_window(window_start.timestamp(), window_end.timestamp(), read_cpu)
    try:
        time.sleep(max(0.0, (window_end - datetime.now(UTC)).total_seconds()) + 1.5)
        stop(grace=5)
    except BaseException:
        abandon()  # never left running, firing beside the next measurement
        raise
    lateness, counts = gnomon_lateness(store_url, window_start, window_end)
    first = first_start(store_url)
    first_fire_s = None if first is None else round((first - wall_start).total_seconds(), 2)
    if args.target in FELT_TARGETS:
        store_ms = [x * 1000 for x in lateness]
        extra.update(
            store_fires=len(store_ms),
            store_p50_ms=round(percentile(store_ms, 0.50), 2),
            store_p99_ms=round(percentile(store_ms, 0.99), 2),
        )
        window = (window_start.timestamp(), window_end.timestamp())
        path = felt_file(workdir) if args.target == "isolated" else None
        lateness = targets.felt_lateness(*window, path)
    shutil.rmtree(workdir, ignore_errors=True)  # kept when the run failed, for its log
    return summarise(
        lateness,
        args.jobs,
        args.seconds,
        engine_usage,
        **counts,
        **extra,
        **cpu_per_fire(cpu, len(lateness)),
        setup_s=round(setup_s, 2),
        first_fire_s=first_fire_s,
    )


def _nothing() -> None:
    """Nothing to end: the scheduler runs in this process."""


class SchedulerProcess(LoggedProcess):
    """`gnomon scheduler` with the benchmark's configuration, as users run it (its log, at the
    default level, goes to a file in the work directory), in a session of its own."""

    def __init__(self, config: Path, workdir: Path) -> None:
        gnomon = Path(sys.executable).parent / "gnomon"  # the console script beside this Python
        command = [str(gnomon), "scheduler", "--config", str(config)]
        super().__init__(command, workdir / "scheduler.log", new_session=True)

    def wait_leading(self, timeout: float) -> None:
        """Return once the scheduler says it runs (it leads at once: the store is its alone)."""
        deadline = time.monotonic() + timeout
        while "gnomon scheduler running as node" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gnomon scheduler did not start:\n{self.output()[-2000:]}")
            time.sleep(0.05)

    def cpu(self) -> tuple[float, float]:
        """CPU seconds of the scheduler's process, and with every process under it."""
        return cputime.process_tree_cpu(self.proc.pid)

    def stop_cleanly(self, grace: float) -> None:
        """SIGTERM, as a service manager stops it (its shutdown_grace is the config's); raises
        unless it ends well within `grace` and 30 s more."""
        code = self.stop(grace + 30)
        if code != 0:
            raise RuntimeError(f"gnomon scheduler ended with exit code {code}")


def own_and_tree_cpu() -> tuple[float, float]:
    """CPU seconds of this process, and with the processes it started."""
    return cputime.own_cpu(), cputime.tree_cpu()


def cpu_in_window(
    start: float, end: float, read_cpu: Callable[[], tuple[float, float]] = own_and_tree_cpu
) -> list[tuple[float, float]]:
    """CPU seconds at `start` and at `end` (wall-clock instants) of the scheduler's process and
    of its process tree, as `read_cpu` gives them, read by a thread of its own; the list fills
    as the window passes."""
    readings: list[tuple[float, float]] = []

    def read() -> None:
        for instant in (start, end):
            time.sleep(max(0.0, instant - time.time()))
            readings.append(read_cpu())

    threading.Thread(target=read, daemon=True).start()
    return readings


def cpu_per_fire(cpu: list[tuple[float, float]], fires: int) -> dict[str, float | None]:
    """µs of CPU per fire in the window: this process's, and with the processes it started."""
    if len(cpu) < 2 or not fires:
        return {"cpu_us_per_fire": None, "tree_cpu_us_per_fire": None}
    (own_0, tree_0), (own_1, tree_1) = cpu
    return {
        "cpu_us_per_fire": round((own_1 - own_0) / fires * 1e6, 1),
        "tree_cpu_us_per_fire": round((tree_1 - tree_0) / fires * 1e6, 1),
    }


def first_start(store_url: str) -> datetime | None:
    """When the first run of all started: start-up time is measured up to that instant."""
    query = "SELECT min(started_at) FROM runs"
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            value = conn.execute(query).fetchone()[0]
    else:
        import psycopg

        dsn = store_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            row = conn.execute(query).fetchone()
            value = row[0] if row else None
    return None if value is None else as_dt(value)


def gnomon_lateness(
    store_url: str, start: datetime, end: datetime
) -> tuple[list[float], dict[str, int]]:
    """Lateness of each run started in the window, and the fire times that did not start: missed
    or skipped, coalesced into another run (fire_count > 1), or still queued at shutdown."""
    query = (
        "SELECT scheduled_for, started_at, status, fire_count FROM runs "
        "WHERE scheduled_for >= :start AND scheduled_for < :end"
    )
    rows: list[tuple[Any, ...]]
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(
                query.replace(":start", "?").replace(":end", "?"),
                (iso_sqlite(start), iso_sqlite(end)),
            ).fetchall()
    else:
        import psycopg

        dsn = store_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                query.replace(":start", "%s").replace(":end", "%s"), (start, end)
            ).fetchall()
    lateness: list[float] = []
    counts = {"missed": 0, "coalesced": 0, "unstarted": 0}
    for scheduled, started, status, fire_count in rows:
        if status in ("missed", "skipped"):
            counts["missed"] += int(fire_count)
        elif started is None:
            counts["unstarted"] += int(fire_count)
        else:
            counts["coalesced"] += int(fire_count) - 1
            lateness.append((as_dt(started) - as_dt(scheduled)).total_seconds())
    return lateness, counts


def iso_sqlite(value: datetime) -> str:
    # How the store's UtcDateTime type writes datetimes on SQLite (naive UTC text).
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def as_dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


# --- APScheduler 3 ---------------------------------------------------------------------------


def run_apscheduler(args: argparse.Namespace) -> dict[str, Any]:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    lateness: list[float] = []
    # Phases hang off a whole second in the past; the window opens once the jobs are added.
    anchor = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    window = {"start": float("inf"), "end": float("inf")}
    _APS_STATE.update(
        anchor=anchor.timestamp(), window=window, lateness=lateness, lock=threading.Lock()
    )
    jobstores: dict[str, Any] = {}
    if args.engine == "aps-sqlite":
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        db = Path(tempfile.mkdtemp(prefix="aps-bench-")) / "jobs.sqlite"
        jobstores["default"] = SQLAlchemyJobStore(url=f"sqlite:///{db}")
    scheduler = BackgroundScheduler(
        jobstores=jobstores, executors={"default": ThreadPoolExecutor(16)}, timezone="UTC"
    )
    started = time.perf_counter()
    add_aps_jobs(scheduler, args.jobs, args.mode, anchor, args.target)
    scheduler.start()
    setup_s = time.perf_counter() - started
    window["start"] = float(int(time.time()) + 1 + args.warmup)
    window["end"] = window["start"] + args.seconds
    cpu = cpu_in_window(window["start"], window["end"])
    time.sleep(max(0.0, window["end"] - time.time()) + 1.5)
    scheduler.shutdown(wait=False)
    return summarise(
        lateness,
        args.jobs,
        args.seconds,
        missed=None,
        **cpu_per_fire(cpu, len(lateness)),
        setup_s=round(setup_s, 2),
    )


def add_aps_jobs(
    scheduler: Any, jobs: int, mode: str, anchor: datetime, target: str = "noop"
) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    job = aps_realistic_job if target == "realistic" else aps_job
    for index, phase in enumerate(phases(jobs, mode)):
        scheduler.add_job(
            job,
            IntervalTrigger(
                seconds=1, start_date=anchor + timedelta(seconds=phase), timezone="UTC"
            ),
            args=[phase],
            id=f"j{index:05d}",
            misfire_grace_time=300,
            coalesce=True,
            max_instances=1,
        )


def probe_aps_sqlite_add(jobs: int) -> dict[str, Any]:
    """Time adding `jobs` jobs to APScheduler's SQLAlchemy store on SQLite (one transaction each),
    so a runner can tell how long the set-up of a large measurement will take."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    db = Path(tempfile.mkdtemp(prefix="aps-probe-")) / "jobs.sqlite"
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{db}")}, timezone="UTC"
    )
    scheduler.start(paused=True)  # running, so each add_job writes to the store at once
    started = time.perf_counter()
    add_aps_jobs(scheduler, jobs, "spread", datetime.now(UTC) + timedelta(hours=1))
    elapsed = time.perf_counter() - started
    scheduler.shutdown(wait=False)
    return {"engine": "aps-sqlite", "jobs": jobs, "add_ms_per_job": round(elapsed / jobs * 1000, 3)}


_APS_STATE: dict[str, Any] = {}


def aps_job(phase: float) -> None:
    """The APScheduler job (module level: its SQLAlchemy store pickles jobs by reference).

    Scheduled times are anchor + phase + k seconds, so lateness below 1 s is recovered here;
    APScheduler's figures are only exact while it keeps lateness under a second.
    """
    now = time.time()
    late = (now - _APS_STATE["anchor"] - phase) % 1.0
    window = _APS_STATE["window"]
    if window["start"] <= now - late < window["end"]:
        with _APS_STATE["lock"]:
            _APS_STATE["lateness"].append(late)


_APS_LOG = logging.getLogger("bench.aps.job")


def aps_realistic_job(phase: float) -> None:
    """What `targets:realistic` does, for APScheduler: note the time, log a line, print one."""
    aps_job(phase)
    _APS_LOG.info("processing the fire of phase %s", phase)
    print("done", phase)


def quiet_job_output() -> None:
    """APScheduler's jobs log and print to the process's own streams: send those to /dev/null
    (gnomon captures them into each run's output instead), keeping the result's stdout."""
    sink = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
    handler = logging.StreamHandler(sink)
    _APS_LOG.addHandler(handler)
    _APS_LOG.setLevel(logging.INFO)
    _APS_LOG.propagate = False
    sys.stdout = sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--engine",
        choices=["gnomon-sqlite", "gnomon-postgres", "aps-memory", "aps-sqlite"],
        required=True,
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--mode", choices=["spread", "aligned"], default="spread")
    parser.add_argument("--target", choices=sorted(_BODIES), default="noop")
    parser.add_argument("--declare", choices=["toml", "embedded"], default="toml")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument(
        "--probe-add", action="store_true", help="aps-sqlite: only time adding --jobs jobs"
    )
    args = parser.parse_args()
    if args.probe_add:
        if args.engine != "aps-sqlite":
            parser.error("--probe-add times APScheduler's SQLAlchemy store: --engine aps-sqlite")
        print(json.dumps(probe_aps_sqlite_add(args.jobs)), flush=True)
        os._exit(0)
    gnomon_engine = args.engine.startswith("gnomon")
    if args.target in ("command", "isolated") and not gnomon_engine:
        parser.error(f"--target {args.target}: gnomon engines only")
    if args.declare == "embedded" and not gnomon_engine:
        parser.error("--declare embedded: gnomon engines only")
    if args.declare == "embedded" and args.target == "command":
        parser.error("--declare embedded adds Python jobs: not with --target command")
    stdout = sys.stdout
    if args.target == "realistic" and not args.engine.startswith("gnomon"):
        quiet_job_output()
    result = run_gnomon(args) if args.engine.startswith("gnomon") else run_apscheduler(args)
    result.update(
        engine=args.engine,
        jobs=args.jobs,
        mode=args.mode,
        seconds=args.seconds,
        target=args.target,
        declare=args.declare if gnomon_engine else None,
    )
    print(json.dumps(result), file=stdout, flush=True)
    # The figures are out: do not wait for a scheduler still draining its backlog (APScheduler's
    # SQLAlchemy store at 10,000 jobs takes tens of seconds to wind down) before the next run.
    os._exit(0)


if __name__ == "__main__":
    main()
