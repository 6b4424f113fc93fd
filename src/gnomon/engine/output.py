"""A run's captured output: a bounded buffer, and per-thread routing of sys.stdout/sys.stderr."""

from __future__ import annotations

import codecs
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, cast

DEFAULT_OUTPUT_CAP = 64 * 1024
# Room kept for the omission marker, so head + marker + tail never exceeds the cap.
_MARKER_ROOM = 96
MIN_OUTPUT_CAP = 4 * _MARKER_ROOM


def _size_text(cap: int) -> str:
    return f"{cap // 1024} KiB" if cap % 1024 == 0 else f"{cap} bytes"


class OutputBuffer:
    """Thread-safe output of one run, capped at ``cap`` bytes of UTF-8.

    Output up to the cap is kept whole. Beyond it the buffer keeps the first half and the last
    half (the start says what a job did, the end how it failed) and ``text()`` puts a marker line
    saying how many bytes were dropped between them. Memory stays bounded however much is written.
    """

    def __init__(self, cap: int = DEFAULT_OUTPUT_CAP) -> None:
        if cap < MIN_OUTPUT_CAP:
            raise ValueError(f"output cap must be at least {MIN_OUTPUT_CAP} bytes, got {cap}")
        self.cap = cap
        self._head_cap = (cap - _MARKER_ROOM) // 2
        self._tail_cap = cap - _MARKER_ROOM - self._head_cap
        self._tail_room = cap - self._head_cap  # all of it is kept while the total fits the cap
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Append text (encoded as UTF-8); returns ``len(text)`` like a text stream."""
        self.write_bytes(text.encode("utf-8", errors="replace"))
        return len(text)

    def write_bytes(self, data: bytes) -> None:
        """Append raw bytes, e.g. a process's output; invalid UTF-8 is replaced when read."""
        with self._lock:
            self._total += len(data)
            room = self._head_cap - len(self._head)
            if room > 0:
                self._head += data[:room]
                data = data[room:]
            if data:
                self._tail += data
                # Trim only once the tail is twice its room, so trimming is amortised O(1).
                if len(self._tail) > 2 * self._tail_room:
                    del self._tail[: -self._tail_room]

    def flush(self) -> None:
        """Nothing to flush; present so the buffer can stand in for a text stream."""

    @property
    def total_bytes(self) -> int:
        """How many bytes were written, kept or not."""
        return self._total

    @property
    def truncated(self) -> bool:
        return self._total > self.cap

    def text(self) -> str:
        """The kept output as text, with a marker line where bytes over the cap were dropped."""
        with self._lock:
            head, tail, total = bytes(self._head), bytes(self._tail), self._total
        if total <= self.cap:
            return (head + tail).decode("utf-8", errors="replace")
        tail = tail[-self._tail_cap :]
        omitted = total - len(head) - len(tail)
        # Cut on character boundaries: drop a partial sequence at the end of the head and
        # continuation bytes at the start of the tail rather than show replacement characters.
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        head_text = decoder.decode(head, final=False)
        omitted += len(decoder.getstate()[0])
        skip = 0
        while skip < 3 and skip < len(tail) and 0x80 <= tail[skip] <= 0xBF:
            skip += 1
        omitted += skip
        marker = f"\n[… {omitted} bytes omitted: output over the {_size_text(self.cap)} cap …]\n"
        return head_text + marker + tail[skip:].decode("utf-8", errors="replace")


# --- routing print() from a run's thread into its buffer ---------------------------------------

_route = threading.local()
_install_lock = threading.Lock()
_installed: list[tuple[ThreadRoutedStream, ThreadRoutedStream]] = []


def _current_buffer() -> OutputBuffer | None:
    if getattr(_route, "suspended", 0):
        return None
    return cast("OutputBuffer | None", getattr(_route, "buffer", None))


class ThreadRoutedStream:
    """Stands in for sys.stdout or sys.stderr: writes from a thread that is executing a run go to
    that run's buffer, writes from any other thread go to the stream it replaced."""

    def __init__(self, original: TextIO) -> None:
        self.original = original

    def write(self, text: str) -> int:
        buffer = _current_buffer()
        if buffer is not None:
            return buffer.write(text)
        return self.original.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _current_buffer() is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False if _current_buffer() is not None else self.original.isatty()

    def __getattr__(self, name: str) -> Any:
        # encoding, errors, fileno, buffer, …: whatever code expects of the real stream.
        return getattr(self.original, name)


def install_output_routing() -> None:
    """Put ThreadRoutedStreams over sys.stdout and sys.stderr. Called by the engine when it starts,
    never at import; calls nest (each needs one ``uninstall_output_routing``)."""
    with _install_lock:
        if _installed:
            _installed.append(_installed[-1])
            return
        pair = (ThreadRoutedStream(sys.stdout), ThreadRoutedStream(sys.stderr))
        sys.stdout, sys.stderr = cast(TextIO, pair[0]), cast(TextIO, pair[1])
        _installed.append(pair)


def uninstall_output_routing() -> None:
    """Undo one ``install_output_routing``; the last one restores the original streams, unless
    someone has replaced them meanwhile (then theirs are left alone)."""
    with _install_lock:
        if not _installed:
            return
        out, err = _installed.pop()
        if _installed:
            return
        if sys.stdout is out:
            sys.stdout = out.original
        if sys.stderr is err:
            sys.stderr = err.original


def output_routing_installed() -> bool:
    return bool(_installed)


def route_thread_output(buffer: OutputBuffer | None) -> OutputBuffer | None:
    """From now on, sys.stdout/sys.stderr writes from the current thread go to ``buffer`` (when
    routing is installed; None: to the real streams). Returns the buffer routed before, to put
    back afterwards. The executor's per-run path uses this instead of the context manager."""
    previous = cast("OutputBuffer | None", getattr(_route, "buffer", None))
    _route.buffer = buffer
    return previous


@contextmanager
def capture_thread_output(buffer: OutputBuffer) -> Iterator[None]:
    """While inside, sys.stdout/sys.stderr writes from the current thread go to ``buffer``
    (when routing is installed)."""
    previous = route_thread_output(buffer)
    try:
        yield
    finally:
        route_thread_output(previous)


@contextmanager
def routing_suspended() -> Iterator[None]:
    """While inside, the current thread's writes reach the real streams (used while logging
    handlers emit, so a handler writing to sys.stderr does not copy a record into the run)."""
    _route.suspended = getattr(_route, "suspended", 0) + 1
    try:
        yield
    finally:
        _route.suspended -= 1
