"""Run ids: one scheme for every run, whoever makes it (scheduler, API, store)."""

from __future__ import annotations

import os
import threading
import time

_entropy_lock = threading.Lock()
_entropy = bytearray()


def new_run_id() -> str:
    """A UUID version 7: 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered ids land at the end of the runs table's primary-key index instead of at random
    pages, which keeps claiming thousands of fires a second cheap; and the random bits come from
    one os.urandom call per 256 ids, because each call drops the GIL, and taking it back behind
    busy worker threads cost the scheduler loop more than anything else it did per fire.
    """
    global _entropy
    with _entropy_lock:
        if len(_entropy) < 10:
            _entropy = bytearray(os.urandom(2560))
        rand = int.from_bytes(_entropy[-10:], "big")
        del _entropy[-10:]
    value = (time.time_ns() // 1_000_000) << 80 | (rand & ((1 << 80) - 1))
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
