"""Runs, shards, leases and transactions: the same guarantees from every store."""

from __future__ import annotations

import threading
import time

import pytest

from batchport.store import (
    IllegalTransition,
    Lease,
    RunExists,
    RunState,
    RunStore,
    ShardRecord,
    ShardState,
)

from .conftest import Opener, new_run, shard


def test_a_move_outside_the_table_fails_loudly(store: RunStore) -> None:
    new_run(store)
    with pytest.raises(IllegalTransition, match="'planned' to 'finished'"):
        store.update_shard("r", "s0000", state=ShardState.FINISHED)
    with pytest.raises(IllegalTransition, match="'planning' to 'done'"):
        store.update_run("r", state=RunState.DONE)
    assert store.get_shard("r", "s0000").state == "planned"
    moved = store.update_shard("r", "s0000", expect=ShardState.PLANNED, state=ShardState.SUBMITTING)
    assert moved.state == "submitting"


def test_compare_and_set_refuses_a_stale_expectation(store: RunStore) -> None:
    new_run(store)
    store.update_shard("r", "s0000", expect=ShardState.PLANNED, state=ShardState.SUBMITTING)
    # a second writer that still thinks the shard is planned loses
    with pytest.raises(IllegalTransition, match="is 'submitting', not 'planned'"):
        store.update_shard("r", "s0000", expect=ShardState.PLANNED, state=ShardState.SUBMITTING)
    with pytest.raises(IllegalTransition, match="is 'planning', not 'running'"):
        store.update_run("r", expect=RunState.RUNNING, state=RunState.DONE)


def test_racing_writers_on_separate_connections_have_exactly_one_winner(opener: Opener) -> None:
    """Two store objects (two connections, as two processes have) race every shard of a
    run from planned to submitting; each shard has one winner and one loser."""
    shards = 12
    new_run(opener(), shards=shards)
    stores = [opener(), opener()]
    gate = threading.Barrier(2)
    won: list[list[str]] = [[], []]
    lost: list[list[str]] = [[], []]

    def race(me: int) -> None:
        for i in range(shards):
            gate.wait()
            try:
                stores[me].update_shard(
                    "r", f"s{i:04d}", expect=ShardState.PLANNED, state=ShardState.SUBMITTING,
                    job_id=f"job-{me}",
                )  # fmt: skip
                won[me].append(f"s{i:04d}")
            except IllegalTransition:
                lost[me].append(f"s{i:04d}")

    threads = [threading.Thread(target=race, args=(me,)) for me in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won[0] + won[1]) == [f"s{i:04d}" for i in range(shards)]
    assert sorted(lost[0] + lost[1]) == sorted(won[0] + won[1])
    check = opener()
    for me in (0, 1):  # the recorded job is the winner's, never overwritten by the loser
        assert {check.get_shard("r", s).job_id for s in won[me]} <= {f"job-{me}"}


def test_a_store_is_usable_from_another_thread(store: RunStore) -> None:
    new_run(store)
    seen: list[str] = []
    worker = threading.Thread(target=lambda: seen.append(store.get_run("r").state))
    worker.start()
    worker.join()
    assert seen == ["planning"]


def test_runs_are_created_once_found_and_listed_newest_first(store: RunStore) -> None:
    first = store.create_run("a", backend="memory", provider="openai", fingerprint="f",
                             options='{"x": 1}', source="in.jsonl")  # fmt: skip
    assert (first.state, first.total_rows, first.source, first.error) == (
        "planning", 0, "in.jsonl", None)  # fmt: skip
    with pytest.raises(RunExists):
        store.create_run("a", backend="memory", provider="openai", fingerprint="", options="{}")
    time.sleep(0.002)
    store.create_run("b", backend="memory", provider="openai", fingerprint="", options="{}")
    assert [r.id for r in store.list_runs()] == ["b", "a"]
    assert store.find_run("zzz") is None
    with pytest.raises(KeyError):
        store.get_run("zzz")
    store.update_run("a", total_rows=7, error="boom", fingerprint="g")
    got = store.get_run("a")
    assert (got.total_rows, got.error, got.fingerprint) == (7, "boom", "g")
    assert got.updated_at >= got.created_at
    with pytest.raises(ValueError, match="backend"):
        store.update_run("a", backend="openai")


def test_shards_keep_their_order_and_their_fields(store: RunStore) -> None:
    store.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
    for sid in ("s0002", "s0000", "s0001-2"):
        store.add_shard(shard("r", sid, parent_id="s0000" if "-" in sid else None))
    assert [s.shard_id for s in store.shards("r")] == ["s0002", "s0000", "s0001-2"]
    assert store.shards("other") == []
    got = store.update_shard("r", "s0002", checkpoint='{"file": "f1"}', requeues=2,
                             last_error="late", job='{"id": "j"}')  # fmt: skip
    assert got.staged() == {"file": "f1"}
    assert (got.requeues, got.last_error, got.job_summary()) == (2, "late", {"id": "j"})
    assert got == store.get_shard("r", "s0002")
    assert store.get_shard("r", "s0001-2").parent_id == "s0000"
    with pytest.raises(KeyError):
        store.get_shard("r", "nope")
    with pytest.raises(ValueError, match="updated_at"):
        store.update_shard("r", "s0000", updated_at=1.0)


def test_open_shards_are_the_unfinished_ones_in_shard_order(store: RunStore) -> None:
    store.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
    for sid in ("s0002", "s0000", "s0001", "s0003"):
        store.add_shard(shard("r", sid))
    for sid, path in (
        ("s0000", ("submitting", "submitted", "finished", "reconciled")),
        ("s0001", ("abandoned",)),
        ("s0003", ("submitting", "submitted", "finished")),
    ):
        for state in path:
            store.update_shard("r", sid, state=ShardState(state))
    assert store.open_shards("r") == [("s0002", "planned"), ("s0003", "finished")]
    assert [s.shard_id for s in store.shards("r")] == ["s0002", "s0000", "s0001", "s0003"]
    assert store.open_shards("other") == []

    class OwnStore(RunStore):  # a store of the caller's own, with no open_shards of its own
        def shards(self, run_id: str) -> list[ShardRecord]:
            return store.shards(run_id)

    assert OwnStore().open_shards("r") == store.open_shards("r")


def test_a_transaction_commits_once_and_nests(opener: Opener) -> None:
    store, other = opener(), opener()
    with store.transaction():
        new_run(store)
        with store.transaction():  # joins the outer one
            store.update_run("r", total_rows=3)
        assert other.find_run("r") is None  # not yet committed
    assert other.get_run("r").total_rows == 3
    assert other.get_shard("r", "s0000").state == "planned"


def _create_then_fail(store: RunStore) -> None:
    with store.transaction():
        new_run(store)
        with store.transaction():
            store.update_run("r", total_rows=3)
        raise RuntimeError("boom")


def test_an_error_rolls_the_whole_transaction_back(opener: Opener) -> None:
    store = opener()
    with pytest.raises(RuntimeError):
        _create_then_fail(store)
    assert store.find_run("r") is None
    assert opener().find_run("r") is None
    new_run(store)  # and the store goes on working


def test_a_refused_move_inside_a_transaction_leaves_it_usable(store: RunStore) -> None:
    new_run(store)
    with store.transaction():
        with pytest.raises(IllegalTransition):
            store.update_shard("r", "s0000", state=ShardState.RECONCILED)
        with pytest.raises(RunExists):
            store.create_run("r", backend="m", provider="openai", fingerprint="", options="{}")
        store.update_shard("r", "s0000", state=ShardState.SUBMITTING)
    assert store.get_shard("r", "s0000").state == "submitting"


def _lease(owner: str, expires_at: float, run_id: str = "r") -> Lease:
    return Lease(run_id, owner, "host", 1, 100.0, 100.0, expires_at)


def test_leases_are_taken_renewed_and_released_by_their_holder(store: RunStore) -> None:
    new_run(store)
    assert store.get_lease("r") is None
    mine = _lease("a", 200.0)
    assert store.take_lease(mine, now=150.0) == mine
    assert store.get_lease("r") == mine
    # held and fresh: the holder's lease comes back unchanged
    assert store.take_lease(_lease("b", 300.0), now=150.0) == mine
    assert store.take_lease(_lease("a", 250.0), now=150.0).expires_at == 250.0  # its own
    assert store.renew_lease("r", "a", 400.0, now=160.0)
    assert not store.renew_lease("r", "b", 500.0, now=160.0)
    assert store.get_lease("r") == Lease("r", "a", "host", 1, 100.0, 160.0, 400.0)
    # expired: anyone may take it; or the caller names the holder it replaces
    assert store.take_lease(_lease("b", 600.0), now=401.0).owner == "b"
    assert store.take_lease(_lease("c", 700.0), replacing="b", now=402.0).owner == "c"
    store.release_lease("r", "b")  # not the holder: nothing happens
    assert store.get_lease("r").owner == "c"  # type: ignore[union-attr]
    store.release_lease("r", "c")
    assert store.get_lease("r") is None


def test_racing_lease_takers_have_exactly_one_winner(opener: Opener) -> None:
    new_run(opener())
    stores = [opener() for _ in range(4)]
    gate = threading.Barrier(len(stores))
    got: list[str] = []

    def take(me: int) -> None:
        gate.wait()
        got.append(stores[me].take_lease(_lease(f"w{me}", 1e12), now=time.time()).owner)

    threads = [threading.Thread(target=take, args=(me,)) for me in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1  # every taker was told the same holder
