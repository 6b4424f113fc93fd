"""Pages of the audit log, filtered as the console filters them, on PostgreSQL."""

#   python bench/audit_filters.py --entries 500000 --calls 30
#
# Fills the PostgreSQL database of --pg-url (dropped and made again) with --entries audit
# entries, one a second, spread over 20 actors, 1,000 jobs and 5 common actions, then times
# SqlStore.list_audit (GET /api/v1/scheduler/audit) for a page of 50 under each filter of
# CASES, --calls times after one untimed call. `rare action` and `unknown job` match nothing:
# without an index on their column they read every entry. Prints p50 and max in ms.

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from firing import reset_postgres  # noqa: E402

from gnomon.domain import AuditFilter  # noqa: E402
from gnomon.store.sql import SqlStore  # noqa: E402

PG_URL = os.environ.get(
    "GNOMON_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gnomon_bench_audit"
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CASES = {
    "newest page": None,
    "one job": AuditFilter(target="job7"),
    "one actor": AuditFilter(actor="user3"),
    "one action": AuditFilter(actions=("token.create",)),
    "rare action": AuditFilter(actions=("user.set_role",)),
    "unknown job": AuditFilter(target="job-none"),
    "job, action, day": AuditFilter(
        target="job7",
        actions=("job.pause",),
        since=T0 + timedelta(days=2),
        until=T0 + timedelta(days=3),
    ),
}
FILL = (
    "INSERT INTO audit (at, actor, action, target, client) "
    "SELECT %(t0)s + make_interval(secs => g), 'user' || (g %% 20), "
    "(ARRAY['job.pause','job.resume','job.run','auth.login','token.create'])[1 + g %% 5], "
    "'job' || (g %% 1000), '127.0.0.1' FROM generate_series(1, %(n)s) g"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    reset_postgres(args.pg_url)
    store = SqlStore(args.pg_url)
    store.upgrade()
    import psycopg

    with psycopg.connect(args.pg_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(FILL, {"t0": T0, "n": args.entries})
        conn.commit()
        conn.execute("ANALYZE audit")
    for name, where in CASES.items():
        store.list_audit(50, where=where)
        times = []
        for _ in range(args.calls):
            started = time.perf_counter()
            store.list_audit(50, where=where)
            times.append((time.perf_counter() - started) * 1000)
        print(f"{name:18} p50 {statistics.median(times):7.2f} ms   max {max(times):7.2f} ms")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
