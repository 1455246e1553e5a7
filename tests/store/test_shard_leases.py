"""Shard leases and the shared quota: what lets several workers share one store."""

from __future__ import annotations

import threading

from batchport.store import Lease, RunState, RunStore, ShardState

from .conftest import Opener, new_run

T = 1_000.0  # a fixed "now" (unix seconds) for every call


def _running(store: RunStore, run_id: str = "r", shards: int = 3) -> RunStore:
    new_run(store, run_id, shards)
    store.update_run(run_id, state=RunState.RUNNING)
    return store


def test_a_shard_lease_is_taken_once_until_it_expires_or_is_given_up(store: RunStore) -> None:
    _running(store)
    assert store.claim_shard("r", "s0000", "a", now=T, expires=T + 60)
    assert not store.claim_shard("r", "s0000", "b", now=T + 1, expires=T + 61)
    assert store.claim_shard("r", "s0000", "a", now=T + 2, expires=T + 62)  # its own: renewed
    got = store.get_shard("r", "s0000")
    assert (got.lease_owner, got.lease_since, got.lease_expires) == ("a", T, T + 62)
    store.release_shard("r", "s0000", "b")  # not b's to give up
    assert store.get_shard("r", "s0000").lease_owner == "a"
    assert store.claim_shard("r", "s0000", "b", now=T + 63, expires=T + 123)  # expired
    assert store.get_shard("r", "s0000").lease_since == T + 63
    assert store.claim_shard("r", "s0000", "c", now=T + 64, expires=T + 90, replacing="b")
    store.release_shard("r", "s0000", "c")
    got = store.get_shard("r", "s0000")
    assert (got.lease_owner, got.lease_since, got.lease_expires) == (None, None, None)


def test_renewal_reports_the_shards_still_held(store: RunStore) -> None:
    _running(store)
    for s in ("s0000", "s0001"):
        assert store.claim_shard("r", s, "a", now=T, expires=T + 10)
    assert store.claim_shard("r", "s0001", "b", now=T + 11, expires=T + 20)  # taken over
    assert store.renew_shard_leases("a", expires=T + 70) == {("r", "s0000")}
    assert store.get_shard("r", "s0000").lease_expires == T + 70
    assert {s.shard_id for s in store.leased_shards()} == {"s0000", "s0001"}


def test_claim_next_takes_shards_in_order_and_skips_what_is_not_a_workers(
    store: RunStore,
) -> None:
    _running(store, "r1", 2)
    new_run(store, "planning", 1)  # not started: nothing to claim
    _running(store, "paused", 1)
    store.update_run("paused", paused_at=T)
    _running(store, "driven", 1)  # a single driver holds the run
    store.take_lease(Lease("driven", "d", "h", 1, T, T, T + 60), now=T)
    store.update_shard("r1", "s0000", state=ShardState.ABANDONED)
    got = [store.claim_next("w", now=T, expires=T + 600) for _ in range(3)]
    assert [(s.run_id, s.shard_id) if s else None for s in got] == [("r1", "s0001"), None, None]
    # once the driver's run lease has expired, its run is a worker's to carry on
    s = store.claim_next("w", now=T + 61, expires=T + 600)
    assert s is not None and (s.run_id, s.lease_owner) == ("driven", "w")
    # an expired shard lease is claimable again
    s = store.claim_next("v", now=T + 601, expires=T + 700)
    assert s is not None and (s.run_id, s.shard_id) == ("r1", "s0001")
    store.update_run("paused", paused_at=None)
    s = store.claim_next("v", now=T + 601, expires=T + 700)
    assert s is not None and s.run_id == "paused"


def test_racing_workers_never_claim_the_same_shard(opener: Opener) -> None:
    _running(opener(), "r", 40)
    stores = [opener() for _ in range(4)]
    claimed: list[list[str]] = [[] for _ in stores]

    def work(i: int) -> None:
        while (s := stores[i].claim_next(f"w{i}", now=T, expires=T + 60)) is not None:
            claimed[i].append(s.shard_id)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [s for c in claimed for s in c]
    assert sorted(every) == [f"s{i:04d}" for i in range(40)]  # each exactly once
    owners = {s.shard_id: s.lease_owner for s in opener().shards("r")}
    assert all(owners[sid] == f"w{i}" for i, c in enumerate(claimed) for sid in c)


def test_quota_held_by_shards_in_flight_is_shared_across_runs(store: RunStore) -> None:
    _running(store, "a", 2)
    _running(store, "b", 1)
    for run, s in (("a", "s0000"), ("a", "s0001"), ("b", "s0000")):
        store.update_shard(run, s, state=ShardState.SUBMITTING)
    assert store.hold_quota("a", "s0000", "gpt", 600, 1000, now=T)
    assert store.hold_quota("a", "s0000", "gpt", 600, 1000, now=T)  # again: not twice
    assert not store.hold_quota("b", "s0000", "gpt", 500, 1000, now=T)  # 1100 > 1000
    assert store.hold_quota("b", "s0000", "other", 500, 1000, now=T)  # another key
    assert store.hold_quota("a", "s0001", "gpt", 400, 1000, now=T)  # exactly 1000
    assert store.quota_in_use() == {"gpt": 1000, "other": 500}
    assert store.hold_quota("b", "s0000", "gpt", 500, 1000, now=T, force=True)  # in flight
    store.release_quota("b", "s0000")
    store.release_quota("a", "s0001")
    assert store.quota_in_use() == {"gpt": 600}
    # a hold whose shard is no longer in flight (a crash left it) counts for nothing
    store.update_shard("a", "s0000", state=ShardState.PLANNED)
    assert store.quota_in_use() == {}
    assert store.hold_quota("b", "s0000", "gpt", 5000, 1000, now=T)  # alone: may exceed


def test_unlimited_quota_keys_always_admit(store: RunStore) -> None:
    _running(store, "a", 2)
    for s in ("s0000", "s0001"):
        store.update_shard("a", s, state=ShardState.SUBMITTING)
        assert store.hold_quota("a", s, "k", 10**9, None, now=T)
    assert store.quota_in_use() == {"k": 2 * 10**9}


def test_deleting_a_run_drops_its_quota_holds(store: RunStore) -> None:
    _running(store, "a", 1)
    store.update_shard("a", "s0000", state=ShardState.SUBMITTING)
    assert store.hold_quota("a", "s0000", "k", 5, 10, now=T)
    store.delete_run("a")
    assert store.quota_in_use() == {}
