"""The scheduler's heap of fire times and its count of where they bunch up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gnomon.engine.fireheap import FireHeap

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_entries_come_out_earliest_first() -> None:
    heap = FireHeap(burst=100)
    for seconds, job in ((3, "c"), (1, "a"), (2, "b")):
        heap.push((T0 + timedelta(seconds=seconds), job, 1))
    assert heap.earliest() == T0 + timedelta(seconds=1)
    assert [heap.pop()[1] for _ in range(3)] == ["a", "b", "c"]
    assert not heap


def test_a_burst_is_a_slot_pushed_as_many_fires_as_the_threshold() -> None:
    heap = FireHeap(burst=3)
    heap.push((T0 + timedelta(seconds=0.5), "spread", 1))
    heap.push((T0 + timedelta(seconds=1.01), "a", 1))
    heap.push((T0 + timedelta(seconds=1.02), "b", 1))
    assert heap.next_burst(T0) is None  # two in the slot of 1.0 s: no burst yet
    heap.push((T0 + timedelta(seconds=1.09), "c", 1))
    assert heap.next_burst(T0) == T0 + timedelta(seconds=1)
    # A slot is forgotten once it ends by the time given (its fires were all taken).
    assert heap.next_burst(T0 + timedelta(seconds=1.05)) == T0 + timedelta(seconds=1)
    assert heap.next_burst(T0 + timedelta(seconds=1.1)) is None


def test_replacing_the_entries_counts_them_afresh() -> None:
    heap = FireHeap(burst=2)
    heap.push((T0, "a", 1))
    heap.push((T0, "b", 1))
    assert heap.next_burst(T0 - timedelta(seconds=1)) == T0
    heap.replace_all([(T0 + timedelta(seconds=5), "a", 2)])
    assert heap.next_burst(T0 - timedelta(seconds=1)) is None
    assert list(heap) == [(T0 + timedelta(seconds=5), "a", 2)]
    heap.clear()
    assert len(heap) == 0


def test_fires_are_counted_from_the_moment_the_heap_could_hold_a_burst() -> None:
    heap = FireHeap(burst=3)
    heap.push((T0, "a", 1))
    heap.push((T0 + timedelta(seconds=5), "b", 1))
    assert heap.next_burst(T0 - timedelta(seconds=1)) is None
    heap.push((T0, "c", 1))  # three entries: now counted, the earlier ones too
    heap.push((T0, "d", 1))
    assert heap.next_burst(T0 - timedelta(seconds=1)) == T0
