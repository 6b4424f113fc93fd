"""The scheduler's heap of next fire times, which also knows where fires bunch up.

Entries are (fire time, job id, job revision), earliest first; an entry may be stale (its job
changed or advanced since), which the scheduler checks when it pops one. Next to the heap, the
entries pushed are counted per slot of SLOT seconds, so that the scheduler can tell, without
walking the heap, whether a burst (many fires due in one slot) is coming: a burst is claimed
well ahead of its time, other fires just before theirs (see Scheduler._fire_due). Counts are
not taken back when entries are popped (that would cost every pop); a slot is forgotten once
its time has passed.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

Entry = tuple[datetime, str, int]

#: Slots fires are counted in per second (each 0.1 s wide). Slots are numbered by an integer
#: product, not a floor division by 0.1, which float rounding puts in the slot before.
SLOTS_PER_SECOND = 10
SLOT = 1 / SLOTS_PER_SECOND


class FireHeap:
    """Next fire times, earliest first, counted per SLOT; `burst` entries in a slot make it a
    burst."""

    def __init__(self, burst: int) -> None:
        self._burst = max(1, burst)
        self._heap: list[Entry] = []
        self._counts: dict[int, int] = {}
        self._bursts: set[int] = set()
        # Fewer entries than a burst cannot make one (a job has one fire per slot): counting
        # starts once the heap holds that many.
        self._counting = False

    def __len__(self) -> int:
        return len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._heap)

    def earliest(self) -> datetime:
        """The earliest fire time (the heap is not empty)."""
        return self._heap[0][0]

    def push(self, entry: Entry) -> None:
        heap = self._heap
        heapq.heappush(heap, entry)
        if self._counting:
            self._count(entry[0])
        elif len(heap) >= self._burst:
            self._recount()

    def pop(self) -> Entry:
        return heapq.heappop(self._heap)

    def replace_all(self, entries: Iterable[Entry]) -> None:
        """Hold these entries and nothing else."""
        self._heap = list(entries)
        heapq.heapify(self._heap)
        self._recount()

    def clear(self) -> None:
        self.replace_all(())

    def next_burst(self, after: datetime) -> datetime | None:
        """The start of the earliest slot that ends after `after` and was pushed a burst (whose
        entries may have been popped since); None when there is none. Slots that end by then
        are forgotten: pass the time up to which every fire has been taken."""
        current = int(after.timestamp() * SLOTS_PER_SECOND)
        counts, bursts = self._counts, self._bursts
        if len(counts) > 2 * len(self._heap) + 100:
            for slot in [slot for slot in counts if slot < current]:
                del counts[slot]
        if not bursts:
            return None
        for slot in [slot for slot in bursts if slot < current]:
            bursts.discard(slot)
        if not bursts:
            return None
        return datetime.fromtimestamp(min(bursts) / SLOTS_PER_SECOND, UTC)

    def _recount(self) -> None:
        self._counts.clear()
        self._bursts.clear()
        self._counting = len(self._heap) >= self._burst
        if self._counting:
            for when, _, _ in self._heap:
                self._count(when)

    def _count(self, when: datetime) -> None:
        slot = int(when.timestamp() * SLOTS_PER_SECOND)
        count = self._counts.get(slot, 0) + 1
        self._counts[slot] = count
        if count == self._burst:
            self._bursts.add(slot)
