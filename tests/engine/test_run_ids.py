"""Run ids: valid version 7 UUIDs, unique, ordered by the millisecond they were made in."""

from __future__ import annotations

import time
import uuid

from gnomon.engine.planning import new_run_id


def test_run_ids_are_unique_version_7_uuids() -> None:
    ids = [new_run_id() for _ in range(5000)]  # more than one refill of the entropy buffer
    assert len(set(ids)) == len(ids)
    for text in ids[:50]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_run_ids_sort_by_the_millisecond_they_were_made_in() -> None:
    before = new_run_id()
    time.sleep(0.002)
    after = new_run_id()
    assert before < after
    millis = int(uuid.UUID(after).hex[:12], 16)
    assert abs(millis - time.time_ns() // 1_000_000) < 5_000
