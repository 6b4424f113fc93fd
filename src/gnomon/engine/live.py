"""Live output: what a run has printed so far, written to its record while it runs, so the
console and the API show it before the run ends.

A thread of its own looks once a second at the runs executing here for at least that long and
writes the output of those that printed something since its last look (at most MAX_PER_PASS a
pass), each as a guarded write that applies only while the run is
`running` on this node: the final status, written with the final output, is never overwritten.
Runs that end within a second (nearly all, at thousands of fires a second) cost nothing here.
The same head and tail cap applies as to the final output (OutputBuffer).

What a look writes is what the run printed since the previous one, added to the stored text, so
a chatty run costs the store what it prints, not its whole output again every second. Once the
output is over the cap its middle is dropped and the stored text changes as a whole: it is then
written whole, at most every TRUNCATED_EVERY seconds.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from gnomon.engine.output import OutputBuffer
from gnomon.store.base import OutputChunk, Store

log = logging.getLogger(__name__)

#: Seconds between two looks; a run's output reaches the store at most this often.
INTERVAL = 1.0
#: The most runs whose output one look writes.
MAX_PER_PASS = 200
#: Seconds between two writes of a run's whole output once it is over the cap.
TRUNCATED_EVERY = 10.0


@dataclass
class _Stored:
    """What the store holds of one run's output, as far as this writer knows."""

    total_bytes: int  # the buffer's total when it was written
    length: int  # characters of the text written
    crc: int  # zlib.crc32 of that text, to tell whether the new text still begins with it
    at: float  # time.monotonic() of the write
    truncated: bool  # whether that text was over the cap


def _chunk(run_id: str, text: str, stored: _Stored | None) -> OutputChunk:
    """The text to write: what follows the stored text when the new text begins with it."""
    if stored is not None and len(text) >= stored.length:
        head = text[: stored.length].encode("utf-8", errors="surrogatepass")
        if zlib.crc32(head) == stored.crc:
            return OutputChunk(run_id, text[stored.length :], append=True)
    return OutputChunk(run_id, text)


class LiveOutput:
    """Writes the output of long runs to the store as it grows."""

    def __init__(
        self,
        store: Store,
        node_id: str,
        outputs: Callable[[float], list[tuple[str, OutputBuffer]]],
        interval: float = INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`outputs(seconds)`: the buffers of the runs executing here for that long, by id."""
        self._monotonic = monotonic
        self._store = store
        self._node_id = node_id
        self._outputs = outputs
        self._interval = interval
        self._written: dict[str, _Stored] = {}  # by run id
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="gnomon-live-output", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.publish()
            except Exception:  # the thread must outlive any one failure (a store outage)
                log.exception("writing the output of running runs failed; trying again")

    @staticmethod
    def _due(stored: _Stored | None, buffer: OutputBuffer, now: float) -> bool:
        """Whether the run printed something since its output was stored, and, if what was
        stored was already over the cap (rewritten whole each time), TRUNCATED_EVERY has
        passed since."""
        if stored is None:
            return buffer.total_bytes > 0
        if buffer.total_bytes == stored.total_bytes:
            return False
        return not stored.truncated or now - stored.at >= TRUNCATED_EVERY

    def publish(self) -> int:
        """One look: write the grown output of the runs that have run for an interval. Returns
        how many runs' output was written."""
        current = self._outputs(self._interval)
        written = self._written
        now = self._monotonic()
        grown = [
            (run_id, buffer, buffer.total_bytes)
            for run_id, buffer in current
            if self._due(written.get(run_id), buffer, now)
        ][:MAX_PER_PASS]
        # Forget the runs that ended.
        alive = {run_id for run_id, _ in current}
        for run_id in [r for r in written if r not in alive]:
            del written[run_id]
        if not grown:
            return 0
        texts = [
            (run_id, buffer.text(), buffer.truncated, total) for run_id, buffer, total in grown
        ]
        self._store.write_live_output(
            self._node_id,
            [_chunk(run_id, text, written.get(run_id)) for run_id, text, _, _ in texts],
        )
        for run_id, text, truncated, total in texts:
            crc = zlib.crc32(text.encode("utf-8", errors="surrogatepass"))
            written[run_id] = _Stored(total, len(text), crc, now, truncated)
        return len(grown)
