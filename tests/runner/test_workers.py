"""Several workers sharing one store: shard leases, takeover, pause, the shared quota.

Workers here run in this process, each with its own store connection, against an
in-process emulator; the subprocess chaos test is in ``tests/durability``.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from store import conftest as store_fixtures
from store._pg import fresh_schema

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.errors import ConfigError
from batchport.runner import InstantClock, Run
from batchport.runner.worker import WorkerStats, pause, unpause, work
from batchport.store import RunRecord, RunStore, ShardState, open_store

from .conftest import assert_one_outcome_each, chat

store_url = store_fixtures.store_url  # the fixture: every test runs on both stores

FAULTS = {"faults": {"row_failure_rate": 0.2, "row_failure_statuses": [500]}, "seed": 3}


def _open(url: str) -> RunStore:
    return open_store(url)[0]


async def _enqueue(
    url: str, be: EmulatorBackend, run_id: str, n: int = 25, **kw: Any
) -> list[bp.Request]:
    reqs = [chat(i) for i in range(n)]
    opts: dict[str, Any] = {"max_rows_per_shard": 10, "max_attempts": 8, **kw}
    r = await bp.run(reqs, backend=be, store=url, run_id=run_id, enqueue=True, progress=False,
                     **opts)  # fmt: skip
    assert r.state == "running"
    assert {s.state for s in r.store.shards(run_id)} == {ShardState.PLANNED}
    assert be.emulator is None or be.emulator.batches() == []  # nothing sent yet
    r.close()
    return reqs


async def _workers(url: str, be: EmulatorBackend, n: int, **kw: Any) -> list[WorkerStats]:
    stores = [_open(url) for _ in range(n)]
    opts: dict[str, Any] = {"concurrency": 1, "poll_s": 0.01, "idle_exit_s": 0.3,
                            "clock": InstantClock(real_sleep=0.005), **kw}  # fmt: skip
    try:
        return list(
            await asyncio.gather(*(work(st, backend_for=lambda rec: be, **opts) for st in stores))
        )
    finally:
        for st in stores:
            st.close()


def _batches_per_shard(run: Run, be: EmulatorBackend) -> dict[str, int]:
    job_of = {s.job_id: s.shard_id for s in run.store.shards(run.id)}
    counts: dict[str, int] = {}
    for b in be.emulator.batches():
        shard = job_of.get(b["id"], "?")
        counts[shard] = counts.get(shard, 0) + 1
    return counts


async def test_two_workers_drive_an_enqueued_run_to_one_outcome_per_row(
    store_url: str, backend_factory: Any
) -> None:
    be = backend_factory(FAULTS)
    reqs = await _enqueue(store_url, be, "run-w")
    stats = await _workers(store_url, be, 2)
    run = bp.open_run("run-w", store=store_url)
    try:
        assert run.state == "done"
        assert_one_outcome_each(run, reqs)
        shards = run.store.shards("run-w")
        assert len(shards) > 3  # failed rows went round again in child shards
        assert sum(s.shards for s in stats) == len(shards)
        assert sum(s.runs_finished for s in stats) == 1  # closed once
        assert all(s.shards for s in stats)  # both took part
        per_shard = _batches_per_shard(run, be)
        assert set(per_shard) == {s.shard_id for s in shards}
        assert set(per_shard.values()) == {1}  # exactly one batch per shard
        assert all(s.lease_owner is None for s in shards)  # every lease given up
    finally:
        run.close()


async def test_a_paused_run_is_left_alone_until_unpaused(
    store_url: str, backend_factory: Any
) -> None:
    be = backend_factory({})
    await _enqueue(store_url, be, "run-p", n=12)
    st = _open(store_url)
    try:
        pause(st, "run-p")
        (idle,) = await _workers(store_url, be, 1)
        assert idle.shards == 0 and (be.emulator is None or be.emulator.batches() == [])
        unpause(st, "run-p")
        (busy,) = await _workers(store_url, be, 1)
        assert busy.shards == 2
        assert st.get_run("run-p").state == "done"
    finally:
        st.close()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_a_dead_workers_shards_are_taken_over_and_never_submitted_twice(
    store_url: str, backend_factory: Any
) -> None:
    """A worker died after submitting shard s0000 (its lease names a process of this host
    that is gone) and another died while submitting s0001 (intent committed, job
    created, its id never recorded; a lease on another host, long expired). The next
    worker adopts both jobs instead of submitting again."""
    be = backend_factory({})
    clock = InstantClock(real_sleep=0.005)
    reqs = [chat(i) for i in range(20)]
    first = await bp.run(reqs, backend=be, store=store_url, run_id="run-d", submit_only=True,
                         max_rows_per_shard=10, progress=False, clock=clock)  # fmt: skip
    first.close()
    st = _open(store_url)
    try:
        assert len(be.emulator.batches()) == 2
        dead = f"{socket.gethostname()}:{_dead_pid()}:gone"
        assert st.claim_shard("run-d", "s0000", dead, now=time.time(), expires=time.time() + 3600)
        long_ago = time.time() - 7200
        assert st.claim_shard("run-d", "s0001", "elsewhere:1:x", now=long_ago, expires=long_ago)
        st.update_shard("run-d", "s0001", expect="submitted", state="planned", job_id=None)
        st.update_shard("run-d", "s0001", expect="planned", state="submitting")
        (stats,) = await _workers(store_url, be, 1, concurrency=2)
        assert stats.shards == 2
        run = bp.open_run("run-d", store=store_url)
        assert run.state == "done"
        assert_one_outcome_each(run, reqs)
        assert len(be.emulator.batches()) == 2  # both adopted, none created again
        run.close()
    finally:
        st.close()


async def test_workers_share_the_quota_across_runs(store_url: str, backend_factory: Any) -> None:
    """Two runs on one model, each shard alone over half the limit: across both runs
    and both workers, no two shards are ever in flight at once."""
    be = backend_factory({})
    quota = {"gpt-4o-mini": {"tokens": 100}}
    await _enqueue(store_url, be, "run-q1", n=20, quota=quota)
    await _enqueue(store_url, be, "run-q2", n=20, quota=quota)
    st = _open(store_url)
    est = {s.shard_id: s.est_tokens for s in st.shards("run-q1")}
    assert all(50 < t <= 100 for t in est.values()), est  # one fits, two do not
    peak: list[int] = []
    stores = [_open(store_url) for _ in range(2)]
    for s in stores:
        hold = s.hold_quota

        def watched(*a: Any, _hold: Any = hold, _s: RunStore = s, **k: Any) -> bool:
            ok: bool = _hold(*a, **k)
            peak.append(sum(_s.quota_in_use().values()))
            return ok

        s.hold_quota = watched  # type: ignore[method-assign]
    try:
        clock = InstantClock(real_sleep=0.005)
        await asyncio.gather(
            *(
                work(
                    s,
                    backend_for=lambda rec: be,
                    concurrency=2,
                    poll_s=0.01,
                    idle_exit_s=0.3,
                    clock=clock,
                )
                for s in stores
            )
        )
        assert {st.get_run(r).state for r in ("run-q1", "run-q2")} == {"done"}
        assert peak and max(peak) <= 100
        assert st.quota_in_use() == {}
    finally:
        for s in (st, *stores):
            s.close()


async def test_bp_run_leaves_shards_a_worker_holds_to_it(
    store_url: str, backend_factory: Any
) -> None:
    """``bp.run`` drives its run as a worker would: a shard another live driver holds
    is waited for, not driven twice."""
    be = backend_factory({})
    reqs = [chat(i) for i in range(20)]
    st = _open(store_url)
    try:
        first = await bp.run(reqs, backend=be, store=store_url, run_id="run-h", submit_only=True,
                             max_rows_per_shard=10, progress=False)  # fmt: skip
        first.close()
        # a live driver elsewhere holds s0001 for a moment, then gives it up
        owner = "elsewhere:1:live"
        assert st.claim_shard("run-h", "s0001", owner, now=time.time(), expires=time.time() + 60)

        released: list[float] = []

        async def release_later() -> None:
            await asyncio.sleep(0.3)
            st.release_shard("run-h", "s0001", owner)
            released.append(time.monotonic())

        held_job = st.get_shard("run-h", "s0001").job_id
        polled: list[float] = []  # when the held shard's job was polled
        poll = be.poll

        async def watched_poll(job: Any) -> Any:
            if job.id == held_job:
                polled.append(time.monotonic())
            return await poll(job)

        be.poll = watched_poll  # type: ignore[method-assign]
        clock = InstantClock(real_sleep=0.005)
        task = asyncio.ensure_future(release_later())
        run = await bp.resume("run-h", backend=be, store=store_url, clock=clock, progress=False,
                              lease_ttl_s=0.3)  # fmt: skip
        await task
        assert run.state == "done"
        assert_one_outcome_each(run, reqs)
        assert len(be.emulator.batches()) == 2
        assert polled and min(polled) >= released[0]  # left alone while the other held it
        run.close()
    finally:
        st.close()


async def test_a_worker_records_a_run_it_cannot_drive_and_goes_on(
    store_url: str, backend_factory: Any
) -> None:
    be = backend_factory({})
    await _enqueue(store_url, be, "run-bad", n=5)
    await _enqueue(store_url, be, "run-good", n=5)

    def backend_for(rec: RunRecord) -> Any:
        if rec.id == "run-bad":
            raise ConfigError("no credentials for this backend here")
        return be

    st = _open(store_url)
    try:
        stats = await work(st, backend_for=backend_for, poll_s=0.01, idle_exit_s=0.3,
                           clock=InstantClock(real_sleep=0.005))  # fmt: skip
        assert st.get_run("run-good").state == "done"
        bad = st.get_run("run-bad")
        assert bad.state == "failed" and "no credentials" in (bad.error or "")
        assert stats.failed_runs == ["run-bad"]
    finally:
        st.close()


class _StalledAfterStaging(EmulatorBackend):
    """Stalls after staging s0000's input past the driver's lease, while another driver
    takes the shard over (and later gives it up, as if it stopped); records who held the
    shard's lease at each create call."""

    thief = "elsewhere:9:thief"

    def __init__(self, url: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.url_store = url
        self.stalled = asyncio.Event()
        self.holders_at_create: list[str | None] = []

    def _store(self) -> RunStore:
        return _open(self.url_store)

    async def stage(self, spec: Any, checkpoint: Any) -> None:
        await super().stage(spec, checkpoint)
        if spec.shard_id == "s0000" and not self.stalled.is_set():
            self.stalled.set()
            st = self._store()
            try:
                now = time.time() + 3600  # as if the stall outlasted the driver's lease
                assert st.claim_shard(spec.run_id, "s0000", self.thief, now=now, expires=now)
            finally:
                st.close()

    async def submit(self, spec: Any, checkpoint: Any) -> Any:
        st = self._store()
        try:
            self.holders_at_create.append(st.get_shard(spec.run_id, spec.shard_id).lease_owner)
        finally:
            st.close()
        return await super().submit(spec, checkpoint)


async def test_a_driver_that_lost_its_lease_before_submitting_sends_nothing(
    store_url: str,
) -> None:
    """The lease is confirmed right before the create call: a driver that stalled past
    its lease while another took the shard over sends nothing while the other holds it,
    takes the shard back once it is free, and the shard ends with exactly one batch."""
    reqs = [chat(i) for i in range(10)]
    async with _StalledAfterStaging(store_url) as be:
        st = _open(store_url)

        async def thief_gives_up() -> None:
            await be.stalled.wait()
            await asyncio.sleep(0.2)
            st.release_shard("run-f", "s0000", be.thief)

        helper = asyncio.ensure_future(thief_gives_up())
        try:
            run = await bp.run(reqs, backend=be, store=store_url, run_id="run-f",
                               progress=False, clock=InstantClock(real_sleep=0.005),
                               lease_ttl_s=0.3)  # fmt: skip
            await helper
            assert run.state == "done"
            assert_one_outcome_each(run, reqs)
            assert be.thief not in be.holders_at_create
            assert len(be.holders_at_create) == 1
            assert be.emulator is not None and len(be.emulator.batches()) == 1
            run.close()
        finally:
            st.close()


async def test_pausing_lets_go_of_shards_being_polled_and_unpausing_finishes(
    store_url: str, backend_factory: Any
) -> None:
    be = backend_factory({"progression": {"kind": "after_polls", "polls": 40}})
    await _enqueue(store_url, be, "run-pp", n=12)
    st = _open(store_url)
    try:
        seen: list[str] = []

        async def pause_once_submitted() -> None:
            while not any(s.state == "submitted" for s in st.shards("run-pp")):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            pause(st, "run-pp")
            seen.append("paused")

        watcher = asyncio.ensure_future(pause_once_submitted())
        (stats,) = await _workers(store_url, be, 1, concurrency=2)
        await watcher
        assert seen == ["paused"]
        assert (stats.shards, stats.left) == (0, 2)  # both let go at the pause
        assert st.get_run("run-pp").state == "running"
        assert all(s.lease_owner is None for s in st.shards("run-pp"))
        assert any(s.state == "submitted" for s in st.shards("run-pp"))
        unpause(st, "run-pp")
        await _workers(store_url, be, 1, concurrency=2)
        assert st.get_run("run-pp").state == "done"
        assert len(be.emulator.batches()) == 2  # polled again, not submitted again
    finally:
        st.close()


async def test_a_worker_reconnects_after_the_database_drops_its_connection(
    backend_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL ends the worker's connection in the middle of the run (as a failover
    or a restart would): the worker lets its shards go, reconnects, takes them back
    and finishes, with one outcome per row and one batch per shard."""
    import psycopg

    from batchport.runner.worker import serve

    be = backend_factory({"progression": {"kind": "after_polls", "polls": 30}})
    app = f"bpworker{uuid.uuid4().hex[:8]}"
    with fresh_schema() as base:
        url = f"{base}&application_name={app}"
        reqs = await _enqueue(url, be, "run-fo", n=30)
        admin = psycopg.connect(base.split("?")[0], autocommit=True)
        killed: list[int] = []

        async def drop_connections_once_submitted() -> None:
            st = _open(base)
            try:
                while not any(s.state == "submitted" for s in st.shards("run-fo")):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            finally:
                st.close()
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (app,),
            ).fetchall()
            killed.append(len(rows))

        killer = asyncio.ensure_future(drop_connections_once_submitted())
        caplog.set_level("WARNING", logger="batchport.worker")
        stats = await serve(url, backend_for=lambda rec: be, concurrency=3, poll_s=0.01,
                            idle_exit_s=0.5, clock=InstantClock(real_sleep=0.005),
                            reconnect_max_s=0.5)  # fmt: skip
        await killer
        admin.close()
        assert killed and killed[0] >= 1
        assert "store connection lost" in caplog.text
        with bp.open_run("run-fo", store=base) as run:
            assert run.state == "done"
            assert_one_outcome_each(run, reqs)
            assert set(_batches_per_shard(run, be).values()) == {1}
        assert stats.runs_finished == 1
