"""``wake_job``: an event names a job; the shards running it are marked woken."""

from __future__ import annotations

from batchport.store import RunStore, ShardState

from .conftest import Opener, new_run


def _submitted(store: RunStore, run_id: str, shard_id: str, job_id: str) -> None:
    store.update_shard(run_id, shard_id, expect=ShardState.PLANNED, state=ShardState.SUBMITTING)
    store.update_shard(
        run_id, shard_id, expect=ShardState.SUBMITTING, state=ShardState.SUBMITTED, job_id=job_id
    )


def test_wake_job_marks_the_shard_running_that_job_and_no_other(store: RunStore) -> None:
    new_run(store, "r", shards=3)
    _submitted(store, "r", "s0000", "batch_a")
    _submitted(store, "r", "s0001", "batch_b")
    assert store.wake_job("batch_b", 1_750_000_000.5) == [("r", "s0001")]
    woken = {s.shard_id: s.woken_at for s in store.shards("r")}
    assert woken == {"s0000": None, "s0001": 1_750_000_000.5, "s0002": None}
    # a later event moves the mark again; the shard's state is untouched
    assert store.wake_job("batch_b", 1_750_000_060.0) == [("r", "s0001")]
    again = store.get_shard("r", "s0001")
    assert (again.woken_at, again.state) == (1_750_000_060.0, "submitted")


def test_an_unknown_job_wakes_nothing(store: RunStore) -> None:
    new_run(store, "r", shards=1)
    _submitted(store, "r", "s0000", "batch_a")
    assert store.wake_job("batch_zzz", 1.0) == []
    assert store.wake_job("", 1.0) == []
    assert store.get_shard("r", "s0000").woken_at is None


def test_gemini_names_match_with_or_without_their_prefix(store: RunStore) -> None:
    new_run(store, "r", shards=2)
    _submitted(store, "r", "s0000", "batches/abc")
    _submitted(store, "r", "s0001", "def")  # recorded bare
    assert store.wake_job("batches/abc", 5.0) == [("r", "s0000")]
    assert store.wake_job("batches/def", 6.0) == [("r", "s0001")]
    # an OpenAI-style id never matches a Gemini name by accident
    assert store.wake_job("abc", 7.0) == []
    assert store.get_shard("r", "s0000").woken_at == 5.0


def test_a_job_in_two_runs_wakes_both_and_another_connection_sees_it(opener: Opener) -> None:
    writer, reader = opener(), opener()
    for run_id in ("r1", "r2"):
        new_run(writer, run_id, shards=1)
        _submitted(writer, run_id, "s0000", "batch_shared")
    assert writer.wake_job("batch_shared", 9.0) == [("r1", "s0000"), ("r2", "s0000")]
    assert [reader.get_shard(r, "s0000").woken_at for r in ("r1", "r2")] == [9.0, 9.0]
