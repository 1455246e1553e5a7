"""Gemini creation is not idempotent and batches carry no metadata: a batch whose
create answer was lost is found again by its display name, the recorded create intent
and its request count. Driven through the runner against the emulator's dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import batchport as bp
from batchport.backends.base import Checkpoint
from batchport.backends.gemini import BATCH_NAME, GeminiBackend
from batchport.backends.memory import DictCheckpoint
from batchport.backends.models import Job, ShardSpec
from batchport.requests import Request
from batchport.runner import InstantClock
from batchport.store import Store
from batchport_emulator import Emulator

from ..crash import Forgetful, Killed

CONFIG: dict[str, Any] = {"progression": {"kind": "after_polls", "polls": 2}}
IDS = ["a-1", "review:42.a", "{6f1c0e2a-uuid}", "x" * 70]


class DiesAfterCreate(GeminiBackend):
    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        await super().submit(spec, Forgetful(checkpoint, BATCH_NAME))
        raise Killed


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(CONFIG) as emulator:
        yield emulator


def _requests(ids: list[str]) -> list[Request]:
    return [
        Request(
            custom_id=cid,
            url="/v1beta/generateContent",
            body={
                "model": "gemini-2.5-flash",
                "contents": [{"role": "user", "parts": [{"text": f"Say {cid}"}]}],
                "generationConfig": {"maxOutputTokens": 400},
            },
        )
        for cid in ids
    ]


async def _batches(emu: Emulator) -> list[str]:
    async with GeminiBackend(base_url=emu.url, api_key="gm-test-key") as be:
        return [job.id async for job in be._list()]


@pytest.mark.parametrize("inline_limit", [19 * 1024 * 1024, 0])
async def test_a_batch_created_before_a_crash_is_adopted_on_resume(
    emu: Emulator, home: Path, inline_limit: int
) -> None:
    kw: dict[str, Any] = {
        "base_url": emu.url,
        "api_key": "gm-test-key",
        "inline_limit": inline_limit,
    }
    async with DiesAfterCreate(**kw) as lossy:
        with pytest.raises(Killed):
            await bp.run(_requests(IDS), backend=lossy, home=home, run_id="r1", progress=False,
                         clock=InstantClock())  # fmt: skip
    with Store(home) as store:
        (shard,) = store.shards("r1")
        assert shard.state == "submitting" and shard.job_id is None
        assert "create_intent" in shard.staged() and BATCH_NAME not in shard.staged()
    assert len(await _batches(emu)) == 1
    async with GeminiBackend(**kw) as be:
        run = await bp.resume("r1", backend=be, home=home, progress=False,
                              clock=InstantClock(real_sleep=0.002))  # fmt: skip
    with run:
        assert run.outcomes == {"succeeded": len(IDS)}
        assert sorted(r.custom_id for r in run.results()) == sorted(IDS)
    assert len(await _batches(emu)) == 1  # adopted, not paid for twice


async def test_a_batch_of_another_shard_is_not_adopted(emu: Emulator, tmp_path: Path) -> None:
    async with GeminiBackend(base_url=emu.url, api_key="gm-test-key") as be:
        lines = b"".join(r.to_json() + b"\n" for r in _requests(IDS))
        path = tmp_path / "s.jsonl"
        path.write_bytes(lines)

        def spec(shard: str) -> ShardSpec:
            return ShardSpec("r", shard, "/v1beta/generateContent", "gemini-2.5-flash",
                             len(IDS), len(lines), "h", open=lambda: path.open("rb"))  # fmt: skip

        checkpoint = DictCheckpoint()
        job = await be.submit(spec("s0000"), checkpoint)
        intent = {k: v for k, v in checkpoint.items() if k != BATCH_NAME}
        found = await be.find(spec("s0000"), intent)
        assert found is not None and found.id == job.id
        assert await be.find(spec("s0001"), intent) is None  # same size, other shard
        assert await be.find(spec("s0000"), {}) is None  # no intent: nothing was sent


@pytest.mark.parametrize("attempts", [1, 2])
async def test_an_expired_batch_has_no_results_and_its_rows_are_resubmitted(
    emu: Emulator, home: Path, attempts: int
) -> None:
    emu.configure({"progression": {"kind": "after_polls", "polls": 1000}})
    kw: dict[str, Any] = {"progress": False, "clock": InstantClock(real_sleep=0.002)}
    async with GeminiBackend(base_url=emu.url, api_key="gm-test-key") as be:
        first = await bp.run(_requests(IDS), backend=be, home=home, run_id="rx",
                             submit_only=True, max_attempts=attempts, **kw)  # fmt: skip
        first.close()
        emu.advance_clock(49 * 3600)  # past the 48 h hard expiry, nothing finished
        emu.configure({"progression": {"polls": 1}})  # the next batch runs at once
        run = await bp.resume("rx", backend=be, home=home, **kw)
    with run:
        if attempts == 1:
            assert run.outcomes == {"expired": len(IDS)}
            assert {r.error.code for r in run.results() if r.error} == {"batch_expired"}
        else:  # expired rows are worth another try: a second batch, and they succeed
            assert run.outcomes == {"succeeded": len(IDS)}
            assert {r.attempts for r in run.results()} == {2}
