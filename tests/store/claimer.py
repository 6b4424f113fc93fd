"""A separate process for the exactly-once test: claims one job's fire times in small batches.

Usage: python claimer.py URL JOB_ID REVISION FIRST_ISO COUNT BATCH MEETING_DIR SIDE
Prints "ready", claims, then prints how many runs it inserted. Before each batch it meets the
other claimer (SIDE 0 or 1) through files in MEETING_DIR, so that both claim the same batch at
the same moment: without it, whichever process started first stays ahead and inserts every run,
and the other only ever finds fire times already taken.
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


def meet(directory: Path, step: int, side: int) -> None:
    """Wait until the other claimer has reached `step` too."""
    (directory / f"{step}.{side}").touch()
    other = directory / f"{step}.{1 - side}"
    while not other.exists():
        time.sleep(0.0005)


def main(argv: list[str]) -> int:
    url, job_id, revision, first_iso, count, batch, meeting_dir, side = argv
    first = datetime.fromisoformat(first_iso)
    store = SqlStore(url)
    store.find_job(job_id)  # connect before the race
    print("ready", flush=True)
    times = [first + timedelta(seconds=i) for i in range(int(count))]
    inserted = 0
    for step, start in enumerate(range(0, len(times), int(batch))):
        meet(Path(meeting_dir), step, int(side))
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
