"""Writes run lifecycle updates to the store in batches from one thread.

Workers never wait on the database: they hand updates to the recorder, which merges updates of the
same run (a run that finishes before its `running` update is flushed is written once) and flushes
them together. On SQLite one writer thread also avoids lock contention between workers.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from gnomon.domain import RunUpdate
from gnomon.store.base import Store

log = logging.getLogger(__name__)


def merge_updates(older: RunUpdate, newer: RunUpdate) -> RunUpdate:
    """One update with newer's fields where given, older's elsewhere."""
    changes = {
        f.name: getattr(newer, f.name)
        for f in dataclasses.fields(newer)
        if getattr(newer, f.name) is not None
    }
    return dataclasses.replace(older, **changes)


class RunRecorder:
    """Buffers RunUpdates and writes them with `Store.update_runs` every `interval` seconds."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 0.05,
        on_flushed: Callable[[list[RunUpdate]], None] | None = None,
    ) -> None:
        self._store = store
        self._interval = interval
        self._on_flushed = on_flushed
        self._pending: dict[str, RunUpdate] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gnomon-recorder", daemon=True)
        self._thread.start()

    def record(self, update: RunUpdate) -> None:
        with self._lock:
            previous = self._pending.get(update.run_id)
            self._pending[update.run_id] = merge_updates(previous, update) if previous else update

    def flush(self) -> None:
        """Write everything pending now (also called by stop)."""
        with self._lock:
            batch = list(self._pending.values())
            self._pending.clear()
        if not batch:
            return
        for attempt in range(5):
            try:
                self._store.update_runs(batch)
                break
            except Exception:
                log.exception("writing %d run update(s) failed (attempt %d)", len(batch), attempt)
                time.sleep(0.2 * (attempt + 1))
        else:
            # Keep them for the next flush rather than lose a run record.
            with self._lock:
                for update in batch:
                    newer = self._pending.get(update.run_id)
                    self._pending[update.run_id] = merge_updates(update, newer) if newer else update
            return
        if self._on_flushed:
            self._on_flushed(batch)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=30)
        self.flush()

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()
