"""The runner-level conformance suite: the same run, resume, cancel and retry scenarios
against the in-memory backend and the emulator in the OpenAI and Azure dialects.

A backend is right for the runner when these hold on it unchanged; each target says
only how to count the jobs the provider holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncAzureOpenAI

import batchport as bp
from batchport.backends.azure import DEFAULT_API_VERSION, AzureBackend
from batchport.backends.base import Backend
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.memory import MemoryBackend, succeed
from batchport.backends.models import Outcome, ResultRow, RowError
from batchport.runner import InstantClock
from batchport_emulator import Emulator

from .conftest import assert_one_outcome_each, chat

FAIL = "[[emulator:status=500]]"


def memory_respond(request: Mapping[str, Any]) -> ResultRow:
    """The emulator's failure marker, understood by the memory backend too."""
    if FAIL in str(request["body"]["messages"]):
        error = RowError("server_error", "forced failure")
        return ResultRow(str(request["custom_id"]), Outcome.FAILED, True, error, 500)
    return succeed(request)


@dataclass
class Target:
    backend: Backend
    jobs: Callable[[], int]


@pytest.fixture(params=["memory", "emulator-openai", "emulator-azure"])
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    if request.param == "memory":
        mem = MemoryBackend(memory_respond, polls=3)
        yield Target(mem, lambda: len(mem.jobs))
    elif request.param == "emulator-openai":
        async with EmulatorBackend({"progression": {"kind": "after_polls", "polls": 1}}) as be:
            await be.start()
            emu = be.emulator
            assert emu is not None
            yield Target(be, lambda: len(emu.batches()))
    else:
        config = {
            "progression": {"kind": "after_polls", "polls": 1},
            "azure": {"deployments": [{"name": "mini-batch"}]},
        }
        async with Emulator(config) as emu:
            client = AsyncAzureOpenAI(
                azure_endpoint=emu.url, api_key="azk-conf", api_version=DEFAULT_API_VERSION
            )
            async with (
                client,
                AzureBackend(client, deployments={"gpt-4o-mini": "mini-batch"}) as az,
            ):
                yield Target(az, lambda: len(emu.batches()))


def _kw(target: Target, home: Path, **more: Any) -> dict[str, Any]:
    return {"backend": target.backend, "home": home, "progress": False,
            "clock": InstantClock(real_sleep=0.002), **more}  # fmt: skip


async def test_run_settles_every_row_once(target: Target, home: Path) -> None:
    reqs = [chat(i) for i in range(7)]
    run = await bp.run(reqs, **_kw(target, home, max_rows_per_shard=3))
    with run:
        assert_one_outcome_each(run, reqs)
        assert run.outcomes == {"succeeded": 7}
        assert run.state == "done"
        assert all(r.text for r in run.results())
        assert run.usage.input_tokens > 0
    assert target.jobs() == 3


async def test_submit_then_resume_never_submits_twice(target: Target, home: Path) -> None:
    reqs = [chat(i) for i in range(6)]
    submitted = await bp.run(reqs, **_kw(target, home, run_id="run-sr", max_rows_per_shard=2,
                                          submit_only=True))  # fmt: skip
    with submitted:
        assert {s.state for s in submitted.store.shards("run-sr")} == {"submitted"}
    assert target.jobs() == 3
    done = await bp.resume("run-sr", **_kw(target, home, requests=reqs))
    with done:
        assert done.outcomes == {"succeeded": 6}
        assert_one_outcome_each(done, reqs)
    assert target.jobs() == 3


async def test_cancel_keeps_what_finished_and_settles_the_rest(target: Target, home: Path) -> None:
    reqs = [chat(i) for i in range(5)]
    first = await bp.run(reqs, **_kw(target, home, run_id="run-cx", submit_only=True))
    first.close()
    run = await bp.cancel("run-cx", **_kw(target, home))
    with run:
        assert run.state == "cancelled"
        assert_one_outcome_each(run, reqs)
        assert set(run.outcomes) <= {"succeeded", "cancelled"}
    assert target.jobs() == 1


async def test_retryable_rows_are_retried_then_settled(target: Target, home: Path) -> None:
    reqs = [chat(i, f"row {i} {FAIL}" if i in (1, 4) else None) for i in range(6)]
    run = await bp.run(reqs, **_kw(target, home, max_attempts=3))
    with run:
        assert_one_outcome_each(run, reqs)
        by_id = {r.custom_id: r for r in run.results()}
        failed = {cid for cid, r in by_id.items() if r.outcome is Outcome.FAILED}
        assert failed == {"r00001", "r00004"}
        assert {by_id[c].attempts for c in failed} == {3}
        assert {r.attempts for c, r in by_id.items() if c not in failed} == {1}
        assert by_id["r00001"].status_code == 500
    assert target.jobs() == 3  # the first batch and two children of the failed rows
