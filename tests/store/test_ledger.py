"""The ledger: one row per request, settled once, read back in pages, from every store."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchport.store import DuplicateRow, Lease, PendingRow, RunStore, Settlement, ShardState
from batchport.store.sqlite import SQLiteStore

from .conftest import Opener, new_run, shard


def _rows(store: RunStore, n: int, shard_id: str = "s0000", run_id: str = "r") -> None:
    store.add_rows(run_id, ((i, f"c{i:05d}", shard_id, i + 1) for i in range(n)))


def test_rows_are_added_unsettled_and_found_by_custom_id(store: RunStore) -> None:
    new_run(store)
    _rows(store, 3)
    row = store.get_row("r", "c00001")
    assert (row.idx, row.shard_id, row.pos, row.attempt, row.outcome) == (1, "s0000", 2, 1, None)
    assert (row.input_tokens, row.settled_at, row.result_key) == (0, None, None)
    assert store.first_index_of("r", "c00002") == 2
    assert store.first_index_of("r", "nope") is None
    with pytest.raises(KeyError):
        store.get_row("r", "nope")
    assert store.shard_custom_ids("r", "s0000") == {"c00000", "c00001", "c00002"}
    assert store.unsettled_of_shard("r", "s0000")[0] == PendingRow(0, "c00000", 1, 1)
    plain = store.unsettled_rows("r", "s0000")
    assert plain == [(0, "c00000", 1, 1), (1, "c00001", 2, 1), (2, "c00002", 3, 1)]
    assert {type(r) for r in plain} == {tuple}  # not a subclass: the collector's GC note
    packed = store.unsettled_packed("r", "s0000")
    assert [PendingRow.unpack(cid, v) for cid, v in packed.items()] == [
        PendingRow(*row) for row in plain
    ]

    class OwnStore(RunStore):  # a store of the caller's own, with no unsettled_packed
        def unsettled_rows(self, run_id: str, shard_id: str) -> list[tuple[int, str, int, int]]:
            return store.unsettled_rows(run_id, shard_id)

    assert OwnStore().unsettled_packed("r", "s0000") == packed
    assert store.outcome_counts("r") == {None: 3}


def test_a_duplicate_custom_id_records_none_of_its_batch(store: RunStore) -> None:
    new_run(store)
    _rows(store, 2)
    with pytest.raises(DuplicateRow):
        store.add_rows("r", [(5, "fresh", "s0000", 6), (6, "c00001", "s0000", 7)])
    assert store.first_index_of("r", "fresh") is None
    with pytest.raises(DuplicateRow):  # twice in one batch
        store.add_rows("r", [(7, "twin", "s0000", 8), (8, "twin", "s0000", 9)])
    assert store.outcome_counts("r") == {None: 2}


def test_a_duplicate_inside_a_transaction_leaves_it_usable(store: RunStore) -> None:
    """What preparation does: add rows in its transaction, and on a duplicate look up
    where the first one was before giving up."""
    new_run(store)
    with store.transaction():
        _rows(store, 2)
        with pytest.raises(DuplicateRow):
            store.add_rows("r", [(2, "c00000", "s0000", 3)])
        assert store.first_index_of("r", "c00000") == 0
        store.update_run("r", total_rows=2)
    assert store.get_run("r").total_rows == 2
    assert store.outcome_counts("r") == {None: 2}


def test_settling_never_changes_a_settled_row_and_counts_what_it_settled(
    store: RunStore,
) -> None:
    new_run(store)
    _rows(store, 4)
    n = store.settle_rows("r", iter([
        Settlement(0, "succeeded", 200, result_key="r/results/s0000.jsonl", result_offset=0,
                   result_length=10, input_tokens=5, output_tokens=7, cached_tokens=1,
                   reasoning_tokens=2, cache_write_tokens=3),
        Settlement(1, "failed", 400, "bad_request", "no"),
        Settlement(1, "succeeded", 200),  # the same row again in one call: first wins
    ]))  # fmt: skip
    assert n == 2
    # replaying a reconciliation settles only what was left
    assert store.settle_rows("r", [Settlement(0, "failed"), Settlement(2, "expired")]) == 1
    assert store.settle_rows("r", []) == 0
    ok, bad = store.get_row("r", "c00000"), store.get_row("r", "c00001")
    assert (ok.outcome, ok.status_code, ok.result_key, ok.result_offset, ok.result_length) == (
        "succeeded", 200, "r/results/s0000.jsonl", 0, 10)  # fmt: skip
    assert ok.settled_at is not None
    assert (bad.outcome, bad.error_code, bad.error_message) == ("failed", "bad_request", "no")
    assert store.outcome_counts("r") == {"succeeded": 1, "failed": 1, "expired": 1, None: 1}
    assert store.usage_totals("r") == (5, 7, 1, 2, 3)
    assert store.usage_by_model("r") == {("m", "m"): (5, 7, 1, 3)}
    assert store.unsettled_of_shard("r", "s0000") == [PendingRow(3, "c00003", 4, 1)]


def test_many_rows_settle_and_read_back_in_pages(store: RunStore) -> None:
    n = 4500  # more than one page of every store
    new_run(store)
    _rows(store, n)
    settled = store.settle_rows("r", (Settlement(i, "succeeded", input_tokens=1)
                                      for i in range(n - 1, 0, -2)))  # fmt: skip
    assert settled == n // 2
    assert [r.idx for r in store.iter_rows("r")] == list(range(n))
    landed = [r.idx for r in store.iter_rows("r", order="landed")]
    assert sorted(landed) == list(range(n))
    # settled rows first (one call: one settled_at, so by index), then the rest in order
    assert landed == list(range(1, n, 2)) + list(range(0, n, 2))
    assert store.usage_totals("r")[0] == n // 2


def test_landed_order_follows_settlement_time(store: RunStore) -> None:
    new_run(store)
    _rows(store, 5)
    for idx in (3, 0, 4):
        store.settle_rows("r", [Settlement(idx, "succeeded")])
    assert [r.idx for r in store.iter_rows("r", order="landed")] == [3, 0, 4, 1, 2]


def test_unsettled_rows_move_to_a_child_shard(store: RunStore) -> None:
    new_run(store)
    store.add_shard(shard("r", "s0000-2", parent_id="s0000", attempt=2))
    _rows(store, 3)
    store.settle_rows("r", [Settlement(0, "succeeded")])
    store.move_rows("r", [("c00000", "s0000-2", 1, 2), ("c00002", "s0000-2", 1, 2),
                          ("c00001", "s0000-2", 2, 2)])  # fmt: skip
    assert store.get_row("r", "c00000").shard_id == "s0000"  # settled: stays
    assert store.unsettled_of_shard("r", "s0000-2") == [
        PendingRow(2, "c00002", 1, 2), PendingRow(1, "c00001", 2, 2)]  # fmt: skip
    assert store.shard_custom_ids("r", "s0000") == {"c00000"}


def test_usage_is_summed_per_model(store: RunStore) -> None:
    store.create_run("r", backend="memory", provider="azure", fingerprint="", options="{}")
    store.add_shard(shard("r", "a", model="dep-mini", caller_model="gpt-4o-mini"))
    store.add_shard(shard("r", "b", model="dep-big", caller_model="gpt-4o"))
    store.add_rows("r", [(0, "x", "a", 1), (1, "y", "a", 2), (2, "z", "b", 1)])
    store.settle_rows("r", [Settlement(i, "succeeded", input_tokens=10 * (i + 1),
                                       output_tokens=1, cached_tokens=2,
                                       cache_write_tokens=i) for i in range(3)])  # fmt: skip
    assert store.usage_by_model("r") == {
        ("gpt-4o-mini", "dep-mini"): (30, 2, 4, 1),
        ("gpt-4o", "dep-big"): (30, 1, 2, 2),
    }
    assert store.usage_totals("r") == (60, 3, 6, 0, 3)
    assert store.usage_totals("none") == (0, 0, 0, 0, 0)


def test_deleting_a_run_removes_it_all_and_nothing_else(opener: Opener) -> None:
    store = opener()
    for run_id in ("gone", "kept"):
        new_run(store, run_id)
        _rows(store, 3, run_id=run_id)
        with store.blobs.writer(f"{run_id}/shards/s0000.jsonl") as out:
            out.write(b"{}\n")
        store.take_lease(Lease(run_id, "o", "h", 1, 0.0, 0.0, 1e12), now=0.0)
    store.update_shard("gone", "s0000", state=ShardState.SUBMITTING)
    store.delete_run("gone")
    other = opener()
    assert other.find_run("gone") is None
    assert other.shards("gone") == [] and other.outcome_counts("gone") == {}
    assert other.get_lease("gone") is None
    assert not other.blobs.exists("gone/shards/s0000.jsonl")
    assert other.outcome_counts("kept") == {None: 3}
    assert other.blobs.exists("kept/shards/s0000.jsonl")
    assert other.get_lease("kept") is not None
    new_run(store, "gone")  # the id is free again


def test_a_second_store_object_sees_what_the_first_committed(opener: Opener) -> None:
    first = opener()
    new_run(first)
    _rows(first, 2)
    first.settle_rows("r", [Settlement(1, "succeeded", output_tokens=4)])
    first.close()
    again = opener()
    assert again.get_row("r", "c00001").output_tokens == 4
    assert [s.shard_id for s in again.shards("r")] == ["s0000"]


def test_a_result_key_reads_back_as_settled_whether_or_not_it_is_the_shards_own(
    store: RunStore,
) -> None:
    from batchport.store.bulk import SettlementBatch

    new_run(store)
    _rows(store, 4)
    own, other = "r/results/s0000.jsonl", "r/results/s0000-rt-ab12cd-00001.jsonl"
    batch = SettlementBatch(own)  # the bulk path a collected shard takes
    batch.succeeded_rows()((0, 200, 0, 10, 1, 2, 0, 0, 0))
    batch.append(Settlement(1, "failed", 500, "x", "y", own, 10, 5))
    try:
        assert store.settle_rows("r", batch) == 2
    finally:
        batch.close()
    store.settle_rows("r", [Settlement(2, "succeeded", 200, result_key=other, result_offset=3,
                                       result_length=4, route="realtime")])  # fmt: skip
    got = {r.idx: (r.result_key, r.result_offset, r.result_length) for r in store.iter_rows("r")}
    assert got == {0: (own, 0, 10), 1: (own, 10, 5), 2: (other, 3, 4), 3: (None, None, None)}
    assert store.get_row("r", "c00002").result_key == other


def test_a_deleted_run_leaves_nothing_to_a_new_run_of_the_same_id(store: RunStore) -> None:
    new_run(store)
    _rows(store, 3)
    store.settle_rows("r", [Settlement(0, "succeeded")])
    store.delete_run("r")
    new_run(store)
    assert store.outcome_counts("r") == {}
    _rows(store, 2, shard_id="s0009")
    assert [(r.idx, r.shard_id, r.outcome) for r in store.iter_rows("r")] == [
        (0, "s0009", None), (1, "s0009", None)]  # fmt: skip


def test_every_outcome_reads_back_as_it_was_settled(store: RunStore) -> None:
    from batchport.backends.models import Outcome

    outcomes = [o.value for o in Outcome if o is not Outcome.PENDING] + ["something_new"]
    new_run(store)
    _rows(store, len(outcomes) + 1)
    store.settle_rows("r", [Settlement(i, o) for i, o in enumerate(outcomes)])
    assert [r.outcome for r in store.iter_rows("r")] == [*outcomes, None]
    assert [store.get_row("r", f"c{i:05d}").outcome for i in range(len(outcomes))] == outcomes
    assert store.outcome_counts("r") == {**dict.fromkeys(outcomes, 1), None: 1}


@pytest.mark.parametrize(("run_id", "shard_id"), [("r", "s0000"), ("it's", "s'1")])
def test_plain_successes_settle_under_any_run_and_shard_name(
    store: RunStore, run_id: str, shard_id: str
) -> None:
    _settle_plain_successes(store, run_id, shard_id)


@pytest.mark.parametrize(("run_id", "shard_id"), [("nul\x00run", "s0000"), ("r", "s\x00")])
def test_sqlite_settles_plain_successes_under_names_holding_a_nul(
    tmp_path: Path, run_id: str, shard_id: str
) -> None:
    # PostgreSQL text cannot hold a NUL; SQLite's can, but no SQL literal can
    with SQLiteStore(tmp_path) as store:
        _settle_plain_successes(store, run_id, shard_id)


def _settle_plain_successes(store: RunStore, run_id: str, shard_id: str) -> None:
    from batchport.store import result_key
    from batchport.store.bulk import SettlementBatch

    new_run(store, run_id)
    _rows(store, 2, shard_id=shard_id, run_id=run_id)
    store.add_rows(run_id, [(2, "moved", "s0001", 1)])  # another shard's row, same blob
    own = result_key(run_id, shard_id)
    batch = SettlementBatch(own)
    put = batch.succeeded_rows()
    for idx in (2, 0, 1):  # in the provider's order
        put((idx, 200, idx * 10, 10, idx, 1, 0, 0, 0))
    batch.count = 3
    try:
        assert store.settle_rows(run_id, batch) == 3
        assert store.settle_rows(run_id, batch) == 0  # settled once
    finally:
        batch.close()
    got = [(r.idx, r.outcome, r.result_key, r.result_offset, r.input_tokens)
           for r in store.iter_rows(run_id)]  # fmt: skip
    assert got == [(i, "succeeded", own, i * 10, i) for i in range(3)]
