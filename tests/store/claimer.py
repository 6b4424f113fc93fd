"""A separate process for the exactly-once test: claims one job's fire times in small batches.

Usage: python claimer.py URL JOB_ID REVISION FIRST_ISO COUNT BATCH GO_FILE
Prints "ready", waits for GO_FILE to exist, claims, then prints how many runs it inserted.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from gnomon.domain import Run, RunStatus, TriggerSource, utcnow
from gnomon.store.base import FireClaim
from gnomon.store.sql import SqlStore


def main(argv: list[str]) -> int:
    url, job_id, revision, first_iso, count, batch, go_file = argv
    first = datetime.fromisoformat(first_iso)
    store = SqlStore(url)
    store.find_job(job_id)  # connect before the start signal
    print("ready", flush=True)
    while not Path(go_file).exists():
        time.sleep(0.001)
    times = [first + timedelta(seconds=i) for i in range(int(count))]
    inserted = 0
    for start in range(0, len(times), int(batch)):
        claims = [
            FireClaim(
                run=Run(
                    id=str(uuid.uuid4()),
                    job_id=job_id,
                    trigger_source=TriggerSource.SCHEDULED,
                    status=RunStatus.QUEUED,
                    queued_at=utcnow(),
                    scheduled_for=when,
                ),
                expected_revision=int(revision),
                next_fire_time=when + timedelta(seconds=1),
            )
            for when in times[start : start + int(batch)]
        ]
        inserted += len(store.claim_fires(claims))
    store.close()
    print(inserted, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
