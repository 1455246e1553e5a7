"""The collector's settlements waiting for their commit: everything comes back, in row
order, whether kept as columns (plain successes) or on disk (everything else), and the
SQLite store records a batch exactly as it records the same settlements one by one."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchport.store import RowRecord, Settlement, SQLiteStore
from batchport.store.bulk import DiskSpool, SettlementBatch

KEY = "run-1/results/s0000.jsonl"


@given(st.lists(st.integers(0, 10**9), unique=True, max_size=300))
def test_the_spool_returns_every_settlement_in_row_order(idx: list[int]) -> None:
    spool = DiskSpool()
    try:
        made = [
            Settlement(i, "failed", 500, "server_error", "ü" * (i % 7), None, None, None, i % 5)
            for i in idx
        ]
        for s in made:
            spool.append(s)
        back = list(spool)
        assert back == sorted(made, key=lambda s: s.idx)
        assert list(spool) == back  # read twice, same answer
        assert spool.count == len(made)
    finally:
        spool.close()


def _settlement(i: int, kind: int) -> Settlement:
    """Row ``i`` as one of the shapes a shard settles: a plain success, a success
    without a status code or in another blob, a failure with its line, one without."""
    if kind == 0:
        return Settlement(i, "succeeded", 200, None, None, KEY, i * 7, 7, i % 90, 3, 1, 2, 5)
    if kind == 1:
        return Settlement(i, "succeeded", None, None, None, KEY, i * 7, 7, 1)
    if kind == 2:
        return Settlement(i, "succeeded", 201, None, None, "other/key.jsonl", 0, 9, 4, 2**40)
    if kind == 3:
        return Settlement(i, "failed", 400, "invalid_request", "bad", KEY, i * 7, 7)
    return Settlement(i, "expired", None, "batch_expired", "the batch expired")


shapes = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 4)), unique_by=lambda t: t[0])


@given(shapes)
def test_a_batch_returns_every_settlement_in_row_order(rows: list[tuple[int, int]]) -> None:
    made = [_settlement(i, kind) for i, kind in rows]
    batch = SettlementBatch(KEY)
    try:
        for n, s in enumerate(made):
            batch.append(s)
            if n % 7 == 6:
                batch.pack()  # some rows compressed, the rest not
        assert batch.count == len(made)
        assert list(batch) == sorted(made, key=lambda s: s.idx)
        assert list(batch) == sorted(made, key=lambda s: s.idx)  # twice, same answer
        plain = batch.plain()
        assert [r[0] for r in plain.rows] == sorted(i for i, kind in rows if kind == 0)
        assert plain.result_key == KEY
        assert [s.idx for s in batch.others()] == sorted(i for i, kind in rows if kind != 0)
    finally:
        batch.close()


def test_succeeded_is_a_plain_success_with_its_usage() -> None:
    batch = SettlementBatch(KEY)
    batch.succeeded(3, 200, 10, 20, 1, 2, 3, 4, 5)
    batch.succeeded(1, 299, 0, 10)
    assert list(batch) == [
        Settlement(1, "succeeded", 299, None, None, KEY, 0, 10, 0, 0, 0, 0, 0),
        Settlement(3, "succeeded", 200, None, None, KEY, 10, 20, 1, 2, 3, 4, 5),
    ]
    batch.close()


@pytest.fixture
def two_stores(tmp_path: Path) -> Iterator[list[SQLiteStore]]:
    stores = [SQLiteStore(tmp_path / "a"), SQLiteStore(tmp_path / "b")]
    yield stores
    for s in stores:
        s.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 59), st.integers(0, 4)), unique_by=lambda t: t[0]))
def test_sqlite_records_a_batch_as_it_records_settlements(
    two_stores: list[SQLiteStore], rows: list[tuple[int, int]]
) -> None:
    """Every column of every row (settled_at aside) is the same either way, rows that
    were already settled stay as they were, and the count says how many settled now."""
    one, other = two_stores
    made = [_settlement(i, kind) for i, kind in rows]
    for store in two_stores:
        store.delete_run("run-1")
        store.create_run("run-1", backend="b", provider="openai", fingerprint="", options="{}")
        store.add_rows("run-1", [(i, f"c{i}", "s0000", i + 1) for i in range(60)])
        # a row settled before stays as it was
        store.settle_rows("run-1", [Settlement(7, "cancelled", None, "run_cancelled", "x")])
    batch = SettlementBatch(KEY)
    for n, s in enumerate(made):
        batch.append(s)
        if n % 5 == 4:
            batch.pack()
    try:
        n_batch = one.settle_rows("run-1", batch)
    finally:
        batch.close()
    n_list = other.settle_rows("run-1", made)
    assert n_batch == n_list == len([i for i, _ in rows if i != 7])

    def rows_of(store: SQLiteStore) -> list[RowRecord]:
        return [dataclasses.replace(r, settled_at=None) for r in store.iter_rows("run-1")]

    assert rows_of(one) == rows_of(other)
    assert rows_of(one)[7].outcome == "cancelled"
