"""``bp.run`` and ``bp.resume`` on a PostgreSQL store whose connection drops.

The server really ends the connections (``pg_terminate_backend``, as a failover or a
restart would); an outage that outlasts ``reconnect_s`` is a role that may no longer
log in. Every run ends with one outcome per row and one batch per shard: nothing is
sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from store._pg import URL, fresh_schema

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.errors import RunError
from batchport.runner import InstantClock
from batchport.store import connection_lost, open_store

from .conftest import assert_one_outcome_each, chat
from .test_workers import _batches_per_shard

SLOW = {"progression": {"kind": "after_polls", "polls": 30}}


def _admin() -> Any:
    import psycopg

    return psycopg.connect(URL.split("?")[0], autocommit=True)


async def _when_submitted(url: str, run_id: str) -> None:
    """Return once a shard of the run is at the provider."""
    st = open_store(url)[0]
    try:
        while not any(s.state == "submitted" for s in st.shards(run_id)):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    finally:
        st.close()


async def _started(
    reqs: list[bp.Request], be: EmulatorBackend, store: Any, base: str, run_id: str, **kw: Any
) -> asyncio.Future[bp.Run]:
    """``bp.run`` of ``reqs`` in shards of 10, running, once a shard is at the provider."""
    options: dict[str, Any] = {"progress": False, "clock": InstantClock(real_sleep=0.005), **kw}
    task = asyncio.ensure_future(
        bp.run(reqs, backend=be, store=store, run_id=run_id, max_rows_per_shard=10, **options)
    )
    await _when_submitted(base, run_id)
    return task


def _end_sessions(column: str, value: str) -> int:
    """End every server session whose ``pg_stat_activity`` ``column`` is ``value``, and
    wait until they are gone (the server ends them asynchronously)."""
    import time

    with _admin() as admin:
        query = f"SELECT pid FROM pg_stat_activity WHERE {column} = %s"
        ended = admin.execute(
            f"SELECT pg_terminate_backend(pid) FROM ({query}) AS s", (value,)
        ).fetchall()
        for _ in range(500):
            if not admin.execute(query, (value,)).fetchall():
                break
            time.sleep(0.01)
        return len(ended)


@contextmanager
def _role() -> Iterator[str]:
    """A login role of this test's own (its connections can be barred and ended
    without touching any other test's)."""
    from psycopg import sql

    name = f"bpr_{uuid.uuid4().hex[:10]}"
    admin = _admin()
    try:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(name)))
        yield name
    finally:
        _end_sessions("usename", name)
        admin.execute(sql.SQL("REASSIGN OWNED BY {} TO postgres").format(sql.Identifier(name)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
        admin.close()


async def test_bp_run_reconnects_after_the_database_drops_its_connection(
    backend_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    be: EmulatorBackend = backend_factory(SLOW)
    app = f"bprun{uuid.uuid4().hex[:8]}"
    reqs = [chat(i) for i in range(30)]
    caplog.set_level(logging.WARNING, logger="batchport.runner")
    with fresh_schema() as base:
        task = await _started(reqs, be, f"{base}&application_name={app}", base, "run-drop")
        assert _end_sessions("application_name", app)  # the run's own among them
        with await task as run:
            assert run.state == "done"
            assert_one_outcome_each(run, reqs)
            assert set(_batches_per_shard(run, be).values()) == {1}
        assert "store connection lost" in caplog.text
        assert "store reconnected" in caplog.text


async def test_an_outage_longer_than_reconnect_s_stops_the_run_and_resume_finishes_it(
    backend_factory: Any,
) -> None:
    from psycopg import sql

    be: EmulatorBackend = backend_factory(SLOW)
    reqs = [chat(i) for i in range(20)]
    with fresh_schema() as base, _role() as role:
        url = base.replace("postgres@", f"{role}@", 1)
        task = await _started(reqs, be, url, base, "run-out", reconnect_s=20)
        with _admin() as admin:  # the database is "down" for this run: no new sessions
            admin.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))
        _end_sessions("usename", role)
        with pytest.raises(RunError) as info:
            await task
        message = str(info.value)
        assert "could not open it again within 20s" in message
        assert "bp.resume('run-out')" in message
        assert "Traceback" not in message
        with _admin() as admin:  # back up
            admin.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))
        # the lease the dropped connection could not release is this process's own
        # stopped driver's: taken over at once, not after its time to live
        clock = InstantClock(real_sleep=0.005)
        with await bp.resume("run-out", backend=be, store=url, progress=False,
                             clock=clock) as run:  # fmt: skip
            assert run.state == "done"
            assert_one_outcome_each(run, reqs)
            assert set(_batches_per_shard(run, be).values()) == {1}


async def test_a_store_passed_in_is_not_reopened(backend_factory: Any) -> None:
    """The caller owns a store it passes in: its connection error reaches the caller
    as the driver raised it, and nothing opens another connection behind its back."""
    import psycopg

    be: EmulatorBackend = backend_factory(SLOW)
    app = f"bpown{uuid.uuid4().hex[:8]}"
    with fresh_schema() as base:
        st = open_store(f"{base}&application_name={app}")[0]
        try:
            task = await _started([chat(i) for i in range(10)], be, st, base, "run-own")
            _end_sessions("application_name", app)
            with pytest.raises(psycopg.Error) as info:
                await task
            assert connection_lost(info.value)
        finally:
            st.close()


def test_which_errors_count_as_a_lost_connection() -> None:
    import psycopg
    from psycopg import errors

    assert connection_lost(psycopg.OperationalError("server closed the connection"))
    assert connection_lost(psycopg.InterfaceError("the connection is closed"))
    assert connection_lost(errors.AdminShutdown())  # 57P01: a restart, a failover
    assert connection_lost(errors.CannotConnectNow())  # 57P03: a standby being promoted
    assert connection_lost(errors.ConnectionFailure())  # class 08
    assert not connection_lost(errors.QueryCanceled())  # a statement timeout
    assert not connection_lost(errors.DiskFull())
    assert not connection_lost(errors.UniqueViolation())
    assert not connection_lost(sqlite3.OperationalError("database is locked"))
    assert not connection_lost(RuntimeError("nothing to do with a database"))


def test_reconnect_s_is_checked() -> None:
    for wrong in (-1, float("nan"), "300", True):
        with pytest.raises(bp.InputError, match="reconnect_s"):
            bp.RunOptions(reconnect_s=wrong)  # type: ignore[arg-type]
    assert bp.RunOptions.from_json(bp.RunOptions(reconnect_s=0).to_json()).reconnect_s == 0


class _DropsOnce:
    """Requests that end the run's database sessions while the first pass over them is
    half read (the connection drops during preparation); later passes read plainly."""

    def __init__(self, reqs: list[bp.Request], app: str) -> None:
        self.reqs, self.app, self.passes = reqs, app, 0

    def __iter__(self) -> Iterator[bp.Request]:
        self.passes += 1
        for i, req in enumerate(self.reqs):
            if self.passes == 1 and i == len(self.reqs) // 2:
                _end_sessions("application_name", self.app)
            yield req


async def test_a_drop_while_preparing_prepares_again_from_a_list(backend_factory: Any) -> None:
    be: EmulatorBackend = backend_factory({})
    app = f"bpprep{uuid.uuid4().hex[:8]}"
    reqs = [chat(i) for i in range(12_000)]  # more than one page of ledger rows
    source = _DropsOnce(reqs, app)
    with fresh_schema() as base:
        run = await bp.run(source, backend=be, store=f"{base}&application_name={app}",
                           run_id="run-prep", progress=False,
                           clock=InstantClock(real_sleep=0.005))  # fmt: skip
        with run:
            assert source.passes == 2  # read again from the start
            assert run.state == "done"
            assert_one_outcome_each(run, reqs)
            assert set(_batches_per_shard(run, be).values()) == {1}


async def test_a_drop_while_preparing_a_generator_says_to_hand_it_over_again(
    backend_factory: Any,
) -> None:
    """A generator half read cannot be read again: the run stops, nothing sent, and
    says so (on a first call and on a resume alike); handed its requests again it runs
    them all."""
    be: EmulatorBackend = backend_factory({})
    app = f"bpgen{uuid.uuid4().hex[:8]}"
    reqs = [chat(i) for i in range(12_000)]
    with fresh_schema() as base:
        url = f"{base}&application_name={app}"
        clock = InstantClock(real_sleep=0.005)
        with pytest.raises(RunError, match="stopped while preparing; nothing was sent"):
            await bp.run(iter(_DropsOnce(reqs, app)), backend=be, store=url, run_id="run-gen",
                         progress=False, clock=clock)  # fmt: skip
        assert be.emulator is None or be.emulator.batches() == []  # nothing sent
        # handed over again (a resume of the run still planning), and dropped again
        with pytest.raises(RunError, match="stopped while preparing; nothing was sent"):
            await bp.run(iter(_DropsOnce(reqs, app)), backend=be, store=url, run_id="run-gen",
                         progress=False, clock=clock)  # fmt: skip
        with await bp.run((r for r in reqs), backend=be, store=url, run_id="run-gen",
                          progress=False, clock=clock) as run:  # fmt: skip
            assert run.state == "done"
            assert_one_outcome_each(run, reqs)


async def test_a_drop_while_results_are_collected_settles_each_row_once(
    backend_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops while a shard's results are being read (its result blob
    and settlements not yet committed): after the reconnect the shard is collected
    again from the provider, and each row is settled once."""
    be: EmulatorBackend = backend_factory(SLOW)
    app = f"bpcol{uuid.uuid4().hex[:8]}"
    reqs = [chat(i) for i in range(30)]
    reads: list[str] = []
    interrupted: list[str] = []
    compact = be.compact_results

    async def dropping(job: Any) -> Any:
        reads.append(job.id)
        async for batch in compact(job):
            yield batch
            if not interrupted:  # the first read to get this far (shards read at once)
                interrupted.append(job.id)
                _end_sessions("application_name", app)

    monkeypatch.setattr(be, "compact_results", dropping)
    with fresh_schema() as base:
        run = await bp.run(reqs, backend=be, store=f"{base}&application_name={app}",
                           run_id="run-col", max_rows_per_shard=10, progress=False,
                           clock=InstantClock(real_sleep=0.005))  # fmt: skip
        with run:
            assert run.state == "done"
            assert_one_outcome_each(run, reqs)
            assert set(_batches_per_shard(run, be).values()) == {1}
            assert interrupted and reads.count(interrupted[0]) == 2  # read again, once
