"""Forged run-list cursors, on SQLite and PostgreSQL: a page or ValidationFailed naming the
cursor, never another exception (a cursor is the one piece of a run query a client writes)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gnomon.errors import ValidationFailed
from gnomon.store.sql import SqlStore
from gnomon.store.sql_runs import decode_cursor
from gnomon.store.storable import storable_text
from tests.store.test_store_contract import T0, run
from tests.triggers.fuzz import JSON, iso_texts


def _b64(raw: bytes, padded: bool) -> str:
    text = base64.urlsafe_b64encode(raw).decode()
    return text if padded else text.rstrip("=")


def _dumps(value: object, ascii_only: bool) -> bytes:
    # ensure_ascii writes a lone surrogate as its escape, which json.loads reads back as one.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


#: What a run id in a forged cursor could be: ours, others' and text no column can hold.
RUN_IDS = st.one_of(
    st.uuids().map(str),
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "a\x00b", "\ud800", "x\udfff", "'; DROP TABLE runs; --", "%"]),
    st.sampled_from(["\\", "_", "a" * 37, "a" * 10_000]),
    JSON,
)
QUEUED_ATS = st.one_of(
    iso_texts(), st.datetimes(timezones=st.timezones()).map(datetime.isoformat), JSON
)


@st.composite
def cursors(draw: st.DrawFn) -> str:
    """Cursors as a client could forge them: text, base64 of bytes, base64 of any JSON, and
    base64 of a [queued_at, run_id] pair, the shape ours have."""
    shape = draw(st.sampled_from(["text", "bytes", "json", "pair", "pair", "pair"]))
    if shape == "text":
        return draw(st.text(max_size=60))
    if shape == "bytes":
        raw = draw(st.binary(max_size=60))
    elif shape == "json":
        raw = _dumps(draw(JSON), draw(st.booleans()))
    else:
        pair = [draw(QUEUED_ATS), draw(RUN_IDS)]
        raw = _dumps(pair, draw(st.booleans()))
    return _b64(raw, draw(st.booleans()))


@settings(max_examples=1000, deadline=None)
@given(cursor=cursors())
def test_decoding_any_cursor_gives_an_aware_instant_and_an_id_or_validation_failed(
    cursor: str,
) -> None:
    try:
        queued_at, run_id = decode_cursor(cursor)
    except ValidationFailed as exc:
        refusal = exc
    else:
        assert queued_at.utcoffset() == timedelta(0)
        assert isinstance(run_id, str) and storable_text(run_id) == run_id
        event("decoded")
        return
    assert [p.field for p in refusal.problems] == ["cursor"]


@settings(
    max_examples=300,
    deadline=None,
    # One store for every example: the runs below are only read.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cursor=cursors())
def test_listing_runs_after_any_cursor_gives_a_page_or_validation_failed(
    store: SqlStore, cursor: str
) -> None:
    if not store.list_runs(limit=1).items:
        for minutes in range(3):
            store.add_run(run(scheduled_for=T0 + timedelta(minutes=minutes)))
    try:
        page = store.list_runs(limit=2, cursor=cursor)
    except ValidationFailed as exc:
        refusal = exc
    else:
        assert len(page.items) <= 2
        return
    assert [p.field for p in refusal.problems] == ["cursor"]
