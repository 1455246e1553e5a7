"""Whole runs on the PostgreSQL store: a run driven through a URL, picked up and read
from another store object, with the same results as on the embedded store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store._pg import fresh_schema

import batchport as bp
from batchport.runner import InstantClock, Run
from batchport.store.postgres import PostgresStore

from .conftest import assert_one_outcome_each, chat


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


def _answers(run: Run) -> list[tuple[str, str, str | None, int]]:
    return [(r.custom_id, r.outcome.value, r.text, r.attempts) for r in run.results()]


async def test_a_run_submitted_through_a_url_resumes_from_another_store(
    pg_url: str, backend_factory: Any, clock: InstantClock, home: Path
) -> None:
    reqs = [chat(i) for i in range(25)]
    cfg = {"faults": {"row_failure_rate": 0.2, "row_failure_statuses": [500]}, "seed": 3}
    be = backend_factory(cfg)
    kw: dict[str, Any] = {"clock": clock, "progress": False, "max_rows_per_shard": 10,
                          "max_attempts": 8}  # fmt: skip
    first = await bp.run(reqs, backend=be, store=pg_url, run_id="run-pg", submit_only=True, **kw)
    assert isinstance(first.store, PostgresStore)
    assert [s.state for s in first.store.shards("run-pg")] == ["submitted"] * 3
    first.close()

    # another store object (another connection, as another process would have) carries on
    resumed = await bp.resume("run-pg", backend=be, store=pg_url, clock=clock, progress=False)
    assert_one_outcome_each(resumed, reqs)
    assert resumed.state == "done"
    assert len(be.emulator.batches()) == len(resumed.store.shards("run-pg"))  # none twice
    answers = _answers(resumed)
    resumed.close()

    reread = bp.open_run("run-pg", store=pg_url)
    assert _answers(reread) == answers
    assert reread.outcomes == {"succeeded": 25}
    reread.close()

    # the embedded store, given the same input and emulator set-up, says the same
    local = await bp.run(reqs, backend=backend_factory(cfg), home=home, run_id="run-pg", **kw)
    assert [(c, o, t) for c, o, t, _ in _answers(local)] == [(c, o, t) for c, o, t, _ in answers]
    local.close()


async def test_batchport_store_in_the_environment_selects_postgres(
    pg_url: str, backend_factory: Any, clock: InstantClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHPORT_STORE", pg_url)
    reqs = [chat(i) for i in range(5)]
    run = await bp.run(reqs, backend=backend_factory(), clock=clock, progress=False)
    assert isinstance(run.store, PostgresStore)
    assert_one_outcome_each(run, reqs)
    run_id = run.id
    run.close()
    with PostgresStore(pg_url) as store:
        assert store.outcome_counts(run_id) == {"succeeded": 5}
