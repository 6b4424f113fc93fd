"""OutputBuffer's cap and marker, and routing of sys.stdout/sys.stderr by thread."""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gnomon.engine.output import (
    OutputBuffer,
    ThreadRoutedStream,
    capture_thread_output,
    install_output_routing,
    output_routing_installed,
    routing_suspended,
    uninstall_output_routing,
)

MARKER = re.compile(r"\n\[… (\d+) bytes omitted: output over the (.+?) cap …\]\n")


@contextmanager
def routed_streams() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Fake real streams with routing installed over them (inside the test body, where pytest's
    own capture no longer swaps sys.stdout)."""
    saved = sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr = out, err
    install_output_routing()
    try:
        yield out, err
    finally:
        uninstall_output_routing()
        sys.stdout, sys.stderr = saved


def test_output_under_the_cap_is_kept_whole() -> None:
    buffer = OutputBuffer()
    buffer.write("hello\n")
    buffer.write_bytes(b"world\n")
    assert buffer.text() == "hello\nworld\n"
    assert not buffer.truncated


def test_output_of_exactly_the_cap_has_no_marker() -> None:
    buffer = OutputBuffer(1024)
    buffer.write("a" * 1000)
    buffer.write("b" * 24)
    assert buffer.text() == "a" * 1000 + "b" * 24


def test_output_over_the_cap_keeps_head_and_tail_and_counts_what_was_dropped() -> None:
    buffer = OutputBuffer()
    buffer.write("HEAD\n")
    for _ in range(300):
        buffer.write("x" * 1000 + "\n")
    buffer.write("TAIL\n")
    text = buffer.text()
    assert text.startswith("HEAD\nxxx")
    assert text.endswith("x\nTAIL\n")
    match = MARKER.search(text)
    assert match is not None
    assert match.group(2) == "64 KiB"
    kept = len(text.encode()) - len(match.group(0).encode())
    assert kept + int(match.group(1)) == buffer.total_bytes == 5 + 300 * 1001 + 5
    assert len(text.encode()) <= 64 * 1024
    assert buffer.truncated


def test_cut_points_never_split_a_character() -> None:
    buffer = OutputBuffer(1000)
    buffer.write("é" * 5000)  # two bytes each: the cuts fall inside characters
    text = buffer.text()
    assert "\ufffd" not in text
    match = MARKER.search(text)
    assert match is not None
    assert set(text.replace(match.group(0), "")) == {"é"}
    kept = len(text.encode()) - len(match.group(0).encode())
    assert kept + int(match.group(1)) == 10_000


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    buffer = OutputBuffer()
    buffer.write_bytes(b"ok \xff\xfe done")
    assert buffer.text() == "ok \ufffd\ufffd done"


def test_concurrent_writers_lose_nothing_under_the_cap() -> None:
    buffer = OutputBuffer(1024 * 1024)

    def writer(tag: str) -> None:
        for i in range(500):
            buffer.write(f"{tag}{i}\n")

    threads = [threading.Thread(target=writer, args=(f"t{n}-",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = buffer.text().splitlines()
    assert len(lines) == 8 * 500
    assert {f"t3-{i}" for i in range(500)} <= set(lines)


def test_a_cap_too_small_for_the_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        OutputBuffer(100)


def test_routing_sends_only_the_registered_threads_writes_to_its_buffer() -> None:
    buffer = OutputBuffer()
    with routed_streams() as (out, err):
        with capture_thread_output(buffer):
            print("from the run")
            print("run error", file=sys.stderr)
            other = threading.Thread(target=print, args=("from another thread",))
            other.start()
            other.join()
        print("after the run")
    assert buffer.text() == "from the run\nrun error\n"
    assert out.getvalue() == "from another thread\nafter the run\n"
    assert err.getvalue() == ""


def test_suspended_routing_reaches_the_real_stream() -> None:
    buffer = OutputBuffer()
    with routed_streams() as (out, _), capture_thread_output(buffer):
        with routing_suspended():
            print("to the console")
        print("to the run")
    assert out.getvalue() == "to the console\n"
    assert buffer.text() == "to the run\n"


def test_install_nests_and_uninstall_restores_the_original_streams() -> None:
    saved = sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr = out, err
    try:
        install_output_routing()
        install_output_routing()
        assert isinstance(sys.stdout, ThreadRoutedStream)
        uninstall_output_routing()
        assert isinstance(sys.stdout, ThreadRoutedStream)
        uninstall_output_routing()
        assert sys.stdout is out
        assert sys.stderr is err
        assert not output_routing_installed()
        uninstall_output_routing()  # one too many: harmless
        assert sys.stdout is out
    finally:
        sys.stdout, sys.stderr = saved


def test_routed_stream_passes_other_attributes_to_the_real_stream() -> None:
    real = io.StringIO()
    stream = ThreadRoutedStream(real)
    stream.write("x")
    assert stream.getvalue() == "x"
    assert stream.isatty() is False
