"""Anthropic batches carry no metadata: a batch whose create answer was lost is found
again by the create intent the backend recorded, the shard's request count and, once
it has ended, its ids. Driven through the runner against the emulator's dialect."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from anthropic import AsyncAnthropic

import batchport as bp
from batchport.backends.anthropic import BATCH_ID, AnthropicBackend, record_intent
from batchport.backends.base import Checkpoint
from batchport.backends.memory import DictCheckpoint
from batchport.backends.models import Job, ShardSpec
from batchport.errors import (
    BackendError,
    ConfigError,
    RateLimitError,
    RunError,
    TransportError,
)
from batchport.requests import Request
from batchport.runner import InstantClock
from batchport.store import Store
from batchport_emulator import Emulator

from ..crash import Forgetful, Killed

CONFIG: dict[str, Any] = {"progression": {"kind": "after_polls", "polls": 2}}
IDS = ["a-1", "review:42.a", "{6f1c0e2a-uuid}", "x" * 70]


class DiesAfterCreate(AnthropicBackend):
    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        await super().submit(spec, Forgetful(checkpoint, BATCH_ID))
        raise Killed


def _requests(ids: list[str]) -> list[Request]:
    body = {"model": "claude-haiku-4-5", "max_tokens": 400}
    return [
        Request(
            custom_id=cid,
            url="/v1/messages",
            body={**body, "messages": [{"role": "user", "content": cid}]},
        )
        for cid in ids
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


async def _batches(emu: Emulator) -> list[Any]:
    async with AsyncAnthropic(base_url=emu.url, api_key="sk-ant-test") as client:
        return [b async for b in client.messages.batches.list(limit=100)]


async def _crash_while_creating(emu: Emulator, home: Path) -> None:
    async with DiesAfterCreate(base_url=emu.url, api_key="sk-ant-test") as lossy:
        with pytest.raises(Killed):
            await bp.run(_requests(IDS), backend=lossy, home=home, run_id="r1", progress=False,
                         clock=InstantClock())  # fmt: skip
    with Store(home) as store:
        (shard,) = store.shards("r1")
        assert shard.state == "submitting" and shard.job_id is None
        assert "create_intent" in shard.staged() and BATCH_ID not in shard.staged()


async def test_a_batch_created_before_a_crash_is_adopted_on_resume(home: Path) -> None:
    async with Emulator(CONFIG) as emu:
        await _crash_while_creating(emu, home)
        assert len(await _batches(emu)) == 1
        async with AnthropicBackend(base_url=emu.url, api_key="sk-ant-test") as be:
            run = await bp.resume("r1", backend=be, home=home, progress=False,
                                  clock=InstantClock(real_sleep=0.002))  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": len(IDS)}
            assert sorted(r.custom_id for r in run.results()) == sorted(IDS)
        assert len(await _batches(emu)) == 1  # adopted, not paid for twice


async def test_two_running_candidates_stop_the_run_until_their_ids_can_be_checked(
    home: Path,
) -> None:
    async with Emulator(CONFIG) as emu:
        await _crash_while_creating(emu, home)
        # someone else's batch of the same size, created inside the intent window
        async with AsyncAnthropic(base_url=emu.url, api_key="sk-ant-test") as client:
            other = await client.messages.batches.create(
                requests=[
                    {"custom_id": f"other-{i}", "params": r.body}
                    for i, r in enumerate(_requests(IDS))
                ]
            )
            async with AnthropicBackend(base_url=emu.url, api_key="sk-ant-test") as be:
                with pytest.raises(RunError, match="2 batches created since"):
                    await bp.resume("r1", backend=be, home=home, progress=False,
                                    clock=InstantClock())  # fmt: skip
            assert len(await _batches(emu)) == 2  # nothing submitted meanwhile
            for b in await _batches(emu):  # let both end
                while (await client.messages.batches.retrieve(b.id)).processing_status != "ended":
                    pass
        async with AnthropicBackend(base_url=emu.url, api_key="sk-ant-test") as be:
            run = await bp.resume("r1", backend=be, home=home, progress=False,
                                  clock=InstantClock(real_sleep=0.002))  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": len(IDS)}
            (shard,) = run.store.shards("r1")
            assert shard.job_id != other.id  # the batch whose ids are the shard's
        assert len(await _batches(emu)) == 2


async def test_without_an_intent_nothing_is_adopted(tmp_path: Path) -> None:
    async with (
        Emulator(CONFIG) as emu,
        AnthropicBackend(base_url=emu.url, api_key="sk-ant-test") as be,
    ):
        lines = b"".join(r.to_json() + b"\n" for r in _requests(IDS))
        path = tmp_path / "s.jsonl"
        path.write_bytes(lines)
        spec = ShardSpec("r", "s0000", "/v1/messages", None, len(IDS), len(lines), "h",
                         open=lambda: path.open("rb"))  # fmt: skip
        checkpoint = DictCheckpoint()
        job = await be.submit(spec, checkpoint)
        assert await be.find(spec, {}) is None
        found = await be.find(spec, checkpoint)
        assert found is not None and found.id == job.id
        intent_only: Mapping[str, str] = {k: v for k, v in checkpoint.items() if k != BATCH_ID}
        found = await be.find(spec, intent_only)
        assert found is not None and found.id == job.id


class CountsQueue(AnthropicBackend):
    """Records how many requests were in the provider's queue (submitted, not ended)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.queued: dict[str, int] = {}
        self.peak = 0

    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        job = await super().submit(spec, checkpoint)
        self.queued[job.id] = spec.rows
        self.peak = max(self.peak, sum(self.queued.values()))
        return job

    async def poll(self, job: Job) -> Job:
        job = await super().poll(job)
        if job.status.is_terminal:
            self.queued.pop(job.id, None)
        return job


@pytest.mark.parametrize(("cap", "peak"), [(4, 3), (None, 9)])
async def test_the_processing_queue_cap_holds_shards_back(
    home: Path, cap: int | None, peak: int
) -> None:
    async with (
        Emulator(CONFIG) as emu,
        CountsQueue(base_url=emu.url, api_key="sk-ant-test", max_queued_requests=cap) as be,
    ):
        run = await bp.run(_requests([f"q{i}" for i in range(9)]), backend=be, home=home,
                           progress=False, clock=InstantClock(real_sleep=0.002),
                           max_rows_per_shard=3)  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": 9}
            assert len(run.store.shards(run.id)) == 3
    assert be.peak == peak


def test_a_queue_tier_names_its_cap() -> None:
    be = AnthropicBackend(api_key="sk-ant-test", queue_tier="Build")
    assert be.quota_limits()["*"].tokens == 300_000
    assert be.quota_limits()["*"].unit == "requests"
    with pytest.raises(ConfigError, match="known tiers"):
        AnthropicBackend(api_key="sk-ant-test", queue_tier="gold")


async def test_max_cost_prices_the_claude_model_a_chat_request_runs_on(home: Path) -> None:
    from batchport.runner.api import OverBudget

    reqs = bp.BatchBuilder()
    for i in range(20):
        reqs.chat.completions.create(
            custom_id=f"c{i}",
            model="gpt-4o-mini",
            max_tokens=4000,
            messages=[{"role": "user", "content": "Write an essay"}],
        )
    models = {"gpt-4o-mini": "claude-opus-4-1"}  # 100x gpt-4o-mini's output price
    async with Emulator(CONFIG) as emu:
        be = AnthropicBackend(base_url=emu.url, api_key="sk-ant-test", models=models)
        async with be:
            # 20 x 4,000 output tokens: $0.024 at gpt-4o-mini's batch price, $3 at Opus 4.1's
            with pytest.raises(OverBudget, match="exceeds max_cost"):
                await bp.run(reqs, backend=be, home=home, progress=False, max_cost=1.0,
                             clock=InstantClock())  # fmt: skip
        assert await _batches(emu) == []


class LosesOneAnswer(AnthropicBackend):
    """The first create of shard s0001 fails as ``failure`` says, after the intent is
    recorded and before anything is sent: no batch exists for it."""

    failure: BackendError

    def __init__(self, failure: BackendError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failure = failure
        self.failed = False
        self.looked = 0

    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        if spec.shard_id == "s0001" and not self.failed:
            self.failed = True
            record_intent(checkpoint)
            raise self.failure
        return await super().submit(spec, checkpoint)

    async def find(self, spec: ShardSpec, checkpoint: Mapping[str, str]) -> Job | None:
        self.looked += 1
        return await super().find(spec, checkpoint)


@pytest.mark.parametrize(
    "failure",
    [
        TransportError("the answer was lost", provider="anthropic"),
        RateLimitError("slow down", provider="anthropic", status_code=429),
    ],
    ids=["answer-lost", "429"],
)
async def test_a_failed_create_never_adopts_a_sibling_shards_batch(
    home: Path, failure: BackendError
) -> None:
    """Two shards of one size: the second's create fails while the first's batch runs.
    Looked for by shape, that batch would pass for the second's (both shards would then
    read one batch's results, and the run could never end): it is set aside as the
    first's. A 429 is a refusal, nothing was made: no look-up at all."""
    ids = [f"c{i}" for i in range(8)]
    async with (
        Emulator(CONFIG) as emu,
        LosesOneAnswer(failure, base_url=emu.url, api_key="sk-ant-test") as be,
    ):
        run = await bp.run(_requests(ids), backend=be, home=home, run_id="r2", progress=False,
                           max_rows_per_shard=4, clock=InstantClock(real_sleep=0.002))  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": len(ids)}
            jobs = [s.job_id for s in run.store.shards("r2")]
        assert len(set(jobs)) == 2 and len(await _batches(emu)) == 2
        assert be.failed
        assert (be.looked > 0) is isinstance(failure, TransportError)
