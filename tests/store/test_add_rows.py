"""Ledger rows go in as given, whatever their custom_ids hold and however many there are:
SQLite inserts a page at a time as one JSON document, and falls back to one row at a
time for what JSON text cannot carry to it (a NUL character)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchport.store import DuplicateRow, RunStore, SQLiteStore

from .conftest import new_run

ids = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))
    | st.just("\\u0000"),
    min_size=1,
    max_size=4,
).map("".join)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(ids, unique=True, max_size=40))
def test_rows_come_back_as_they_went_in(store: RunStore, custom_ids: list[str]) -> None:
    store.delete_run("r")
    new_run(store)
    rows = [(i * 3, c, f"s{i % 3:04d}", i + 1) for i, c in enumerate(custom_ids)]
    store.add_rows("r", rows)
    back = [(r.idx, r.custom_id, r.shard_id, r.pos) for r in store.iter_rows("r")]
    assert back == rows
    assert all(r.outcome is None and r.attempt == 1 for r in store.iter_rows("r"))
    for idx, custom_id, _, _ in rows:
        assert store.first_index_of("r", custom_id) == idx


def test_many_pages_keep_their_order(store: RunStore) -> None:
    new_run(store)
    store.add_rows("r", ((i, f"c{i}", "s0000", i + 1) for i in range(12_345)))
    back = [(r.idx, r.pos) for r in store.iter_rows("r")]
    assert back == [(i, i + 1) for i in range(12_345)]
    assert {r.custom_id for r in store.iter_rows("r")} == {f"c{i}" for i in range(12_345)}


def test_a_duplicate_on_a_later_page_is_refused(store: RunStore) -> None:
    new_run(store)
    rows = [(i, f"c{i}", "s0000", i + 1) for i in range(6000)] + [(6000, "c17", "s0000", 6001)]
    with pytest.raises(DuplicateRow), store.transaction():
        store.add_rows("r", rows)
    assert list(store.iter_rows("r")) == []  # the transaction left nothing behind


def test_sqlite_keeps_a_nul_character(tmp_path: Path) -> None:
    """PostgreSQL text cannot hold one; SQLite can, and its JSON path would cut it."""
    with SQLiteStore(tmp_path) as store:
        new_run(store)
        rows = [(0, "a\x00b", "s0000", 1), (1, "\\u0000", "s0000", 2), (2, "c", "s0000", 3)]
        store.add_rows("r", rows)
        assert [(r.idx, r.custom_id, r.shard_id, r.pos) for r in store.iter_rows("r")] == rows
