"""A run on the ``azure`` backend whose batches exceed the deployment's enqueued-token
quota, against the emulator's Azure dialect, on the injected InstantClock.

The emulator's deployment takes one shard's tokens at a time. Refusals come either as a
batch that fails validation with ``token_limit_exceeded`` (the default) or as a 400 at
create (fail-fast regions); either way the runner backs off on its clock and resubmits
until every row has succeeded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from openai import AsyncAzureOpenAI

import batchport
from batchport.backends.azure import DEFAULT_API_VERSION, AzureBackend, Deployment
from batchport.backends.models import Job, ShardSpec
from batchport.errors import QuotaExceededError
from batchport.requests import Request
from batchport.runner import InstantClock
from batchport_emulator import Emulator

DEP = "gpt-4o-batch"
ROWS, PER_SHARD = 24, 4
# Each shard holds ~2,000 tokens by the emulator's estimate; the deployment takes 3,000.
LIMIT = 3_000


def requests() -> list[Request]:
    return [
        Request(
            custom_id=f"r{i:03d}",
            url="/v1/chat/completions",
            body={"model": "gpt-4o", "messages": [{"role": "user", "content": f"w{i} " * 600}]},
        )
        for i in range(ROWS)
    ]


class RecordingAzure(AzureBackend):
    """Records every create attempt as (shard, outcome)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attempts: list[tuple[str, str]] = []

    async def create_batch(self, spec: ShardSpec, file_id: str) -> Job:
        shard = spec.shard_id
        try:
            job = await super().create_batch(spec, file_id)
        except QuotaExceededError:
            self.attempts.append((shard, "refused"))
            raise
        self.attempts.append((shard, "created"))
        return job


async def _no_wait(seconds: float) -> None:
    return None


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    mode = getattr(request, "param", "fail_batch")
    config = {
        # each stage lasts two polls, so accepted batches hold their tokens for a while
        "progression": {"kind": "after_polls", "polls": 2},
        "azure": {
            "deployments": [{"name": DEP, "enqueued_token_limit": LIMIT}],
            "token_limit_mode": mode,
        },
    }
    async with Emulator(config) as emu:
        yield emu


@dataclass
class Run:
    result: Any
    backend: RecordingAzure
    clock: InstantClock
    # every HTTP request the SDK sent, as (method, path, x-stainless-retry-count)
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def sdk_retries(self) -> list[tuple[str, str, str]]:
        """Requests the SDK resent after a real-time retry sleep."""
        return [r for r in self.sent if r[2] != "0"]

    def creates(self) -> int:
        return sum(1 for m, path, _ in self.sent if m == "POST" and path.endswith("/batches"))


async def run(emulator: Emulator, home: Path, deployment: Deployment) -> Run:
    sent: list[tuple[str, str, str]] = []

    async def record(request: httpx2.Request) -> None:
        retry = request.headers.get("x-stainless-retry-count", "?")
        sent.append((request.method, request.url.path, retry))

    http = httpx2.AsyncClient(event_hooks={"request": [record]})
    client = AsyncAzureOpenAI(
        azure_endpoint=emulator.url,
        api_key="azk-quota",
        api_version=DEFAULT_API_VERSION,
        http_client=http,
    )
    backend = RecordingAzure(client, deployments={"gpt-4o": deployment}, sleep=_no_wait)
    clock = InstantClock(real_sleep=0.001)
    async with client, backend:
        result = await batchport.run(
            requests(),
            backend=backend,
            home=home,
            clock=clock,
            progress=False,
            max_rows_per_shard=PER_SHARD,
            max_concurrent_shards=6,
        )
    return Run(result, backend, clock, sent)


def accepted_shards(emulator: Emulator) -> list[str]:
    return [
        b["metadata"]["batchport_shard"] for b in emulator.batches() if b["status"] == "completed"
    ]


def first_attempts(backend: RecordingAzure) -> list[str]:
    order: list[str] = []
    for shard, _ in backend.attempts:
        if shard not in order:
            order.append(shard)
    return order


@pytest.mark.parametrize("emulator", ["fail_batch", "fail_fast"], indirect=True)
async def test_over_quota_run_completes_by_backing_off(emulator: Emulator, home: Path) -> None:
    done = await run(emulator, home, Deployment(DEP))
    result, backend = done.result, done.backend
    assert result.outcomes == {"succeeded": ROWS}
    assert [r.custom_id for r in result.results()] == [q.custom_id for q in requests()]
    assert sorted(accepted_shards(emulator)) == [f"s{i:04d}" for i in range(ROWS // PER_SHARD)]
    refused = [b for b in emulator.batches() if b["status"] == "failed"]
    if emulator.config.azure.token_limit_mode == "fail_fast":
        assert not refused  # refused at create: no batch exists
        assert any(outcome == "refused" for _, outcome in backend.attempts)
        # a refused shard keeps its place: shards are accepted in order of submission
        assert accepted_shards(emulator) == [f"s{i:04d}" for i in range(ROWS // PER_SHARD)]
    else:
        assert refused, "the deployment should have refused some batches"
    shards = result.store.shards(result.id)
    assert sum(s.requeues for s in shards) >= 1
    # The waits were all virtual: at least one backoff (base 30 s, jittered down to half)
    # was a sleep on the runner's clock, and no refusal was retried by the SDK (whose
    # retries sleep for real): each create the backend made reached the emulator once.
    assert max(done.clock.slept) >= 15.0
    assert done.clock.now() >= 15.0
    assert done.sdk_retries() == []
    assert done.creates() == len(backend.attempts)


async def test_a_known_limit_submits_in_order_without_refusals(
    emulator: Emulator, home: Path
) -> None:
    done = await run(emulator, home, Deployment(DEP, enqueued_token_limit=LIMIT))
    result, backend = done.result, done.backend
    assert result.outcomes == {"succeeded": ROWS}
    assert all(outcome == "created" for _, outcome in backend.attempts)
    assert [b["status"] for b in emulator.batches()] == ["completed"] * (ROWS // PER_SHARD)
    assert accepted_shards(emulator) == first_attempts(backend)
