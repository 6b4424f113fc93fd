"""SQLite writers of one process take turns in order, run starts and claims before run records."""

from __future__ import annotations

import threading
import time

from gnomon.store.sql_engine import WriteTurns


def test_waiting_writers_go_in_order_urgent_ones_first() -> None:
    turns = WriteTurns()
    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with turns.turn():
            holding.set()
            release.wait(5)

    def writer(name: str, urgent: bool) -> None:
        with turns.turn(urgent):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(5)
    waiters = []
    for name, urgent in (
        ("record-1", False),
        ("claim", True),
        ("record-2", False),
        ("start", True),
    ):
        thread = threading.Thread(target=writer, args=(name, urgent))
        thread.start()
        waiters.append(thread)
        time.sleep(0.05)  # queue in this order
    release.set()
    for thread in [first, *waiters]:
        thread.join(5)
    assert order == ["claim", "start", "record-1", "record-2"]


def test_a_writer_whose_body_raises_passes_its_turn_on() -> None:
    turns = WriteTurns()
    try:
        with turns.turn():
            raise ValueError("boom")
    except ValueError:
        pass
    done = threading.Event()

    def writer() -> None:
        with turns.turn():
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join(5)
    assert done.is_set()
