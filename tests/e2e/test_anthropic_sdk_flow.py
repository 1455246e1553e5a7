"""Anthropic's documented Message Batches flow, unchanged, through the official
``anthropic`` SDK (sync and async) against a served emulator: create, poll ``retrieve``
until ``ended``, iterate ``results()``, cancel, delete, list pages. Every answer is parsed
by the SDK's own types; time moves only through the emulator's virtual clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from anthropic import Anthropic, AsyncAnthropic, BadRequestError, NotFoundError
from anthropic.types.messages import MessageBatch

from batchport_emulator import EmulatorThread

POLL_S = 0.01
# rows never run on their own: a frozen clock at a finite throughput
HELD: dict[str, Any] = {
    "clock": {"scale": 0},
    "progression": {
        "kind": "throughput",
        "requests_per_s": 1.0,
        "queue_delay_s": 0,
        "validating_s": 0,
        "finalizing_s": 0,
        "cancelling_s": 0,
    },
}


def request(custom_id: str, text: str, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {
            "model": model,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": text}],
        },
    }


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread({"api_keys": ["sk-ant-documented-flow"]}) as emu:
        yield emu


@pytest.fixture
def held() -> Iterator[EmulatorThread]:
    with EmulatorThread(HELD) as emu:
        yield emu


def client(emu: EmulatorThread, **kwargs: Any) -> Anthropic:
    return Anthropic(base_url=emu.url, api_key="sk-ant-documented-flow", max_retries=0, **kwargs)


def wait_ended(c: Anthropic, batch_id: str) -> MessageBatch:
    for _ in range(2000):
        batch = c.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(POLL_S)
    raise AssertionError("the batch did not end")


def test_documented_flow_sync(emulator: EmulatorThread) -> None:
    with client(emulator) as c:
        batch = c.messages.batches.create(
            requests=[
                request("my-first-request", "Hello, world"),
                request("my-second-request", "Hi again, friend", model="claude-haiku-4-5"),
                request("third", "Refuse please [[emulator:refuse]]"),
                request("fourth", "Cut me [[emulator:truncate]]"),
            ]
        )
        assert batch.id.startswith("msgbatch_01")
        assert batch.type == "message_batch"
        assert batch.processing_status in ("in_progress", "ended")
        assert batch.expires_at - batch.created_at == timedelta(days=1)
        assert batch._request_id is not None and batch._request_id.startswith("req_")

        ended = wait_ended(c, batch.id)
        counts = ended.request_counts
        assert (counts.processing, counts.succeeded, counts.errored) == (0, 4, 0)
        assert (counts.canceled, counts.expired) == (0, 0)
        assert ended.ended_at is not None and ended.archived_at is None
        assert ended.results_url == f"{emulator.url}/v1/messages/batches/{batch.id}/results"

        results = {r.custom_id: r.result for r in c.messages.batches.results(batch.id)}
        assert set(results) == {"my-first-request", "my-second-request", "third", "fourth"}
        first = results["my-first-request"]
        assert first.type == "succeeded"
        assert first.message.role == "assistant"
        assert first.message.model == "claude-sonnet-4-5"
        assert first.message.stop_reason == "end_turn"
        assert first.message.content[0].type == "text" and first.message.content[0].text
        assert first.message.usage.cache_read_input_tokens == 0
        assert first.message.usage.input_tokens > 0 and first.message.usage.output_tokens > 0
        second = results["my-second-request"]
        assert second.type == "succeeded" and second.message.model == "claude-haiku-4-5"
        third, fourth = results["third"], results["fourth"]
        assert third.type == "succeeded" and third.message.stop_reason == "refusal"
        assert fourth.type == "succeeded" and fourth.message.stop_reason == "max_tokens"

        deleted = c.messages.batches.delete(batch.id)
        assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")


def test_errored_lines_for_bad_params_and_overload(emulator: EmulatorThread) -> None:
    with client(emulator) as c:
        bad = {"custom_id": "no-max", "params": {"model": "claude-x", "messages": []}}
        batch = c.messages.batches.create(
            requests=[bad, request("busy", "[[emulator:status=529]]"), request("ok", "fine")]
        )
        ended = wait_ended(c, batch.id)
        assert (ended.request_counts.succeeded, ended.request_counts.errored) == (1, 2)
        results = {r.custom_id: r.result for r in c.messages.batches.results(batch.id)}
        no_max, busy = results["no-max"], results["busy"]
        assert no_max.type == "errored" and busy.type == "errored"
        assert no_max.error.type == "error"
        assert no_max.error.error.type == "invalid_request_error"
        assert "max_tokens" in no_max.error.error.message
        assert busy.error.error.type == "overloaded_error"
        assert results["ok"].type == "succeeded"


def test_list_pages_newest_first(emulator: EmulatorThread) -> None:
    with client(emulator) as c:
        made = [c.messages.batches.create(requests=[request(f"r{i}", "x")]).id for i in range(5)]
        page = c.messages.batches.list(limit=2)
        assert [b.id for b in page.data] == made[::-1][:2]
        assert page.has_more and page.first_id == made[-1] and page.last_id == made[-2]
        listed = [b.id for b in c.messages.batches.list(limit=2)]  # auto-pagination
        assert listed[:5] == made[::-1]
        older = c.messages.batches.list(limit=2, after_id=made[2])
        assert [b.id for b in older.data] == [made[1], made[0]]
        newer = c.messages.batches.list(limit=2, before_id=made[2])
        assert [b.id for b in newer.data] == [made[4], made[3]]


def test_cancel_gives_canceled_lines_and_delete_needs_an_end(held: EmulatorThread) -> None:
    with Anthropic(base_url=held.url, api_key="k", max_retries=0) as c:
        batch = c.messages.batches.create(requests=[request(f"c{i}", "x") for i in range(3)])
        current = c.messages.batches.retrieve(batch.id)
        assert current.processing_status == "in_progress"
        assert current.request_counts.processing == 3 and current.results_url is None
        with pytest.raises(BadRequestError) as refused:
            c.messages.batches.delete(batch.id)
        assert refused.value.response.headers["x-should-retry"] == "false"

        cancelled = c.messages.batches.cancel(batch.id)
        assert cancelled.processing_status in ("canceling", "ended")
        assert cancelled.cancel_initiated_at is not None
        ended = wait_ended(c, batch.id)
        assert ended.request_counts.canceled == 3 and ended.request_counts.processing == 0
        again = c.messages.batches.cancel(batch.id)  # idempotent once ended
        assert again.processing_status == "ended"
        results = list(c.messages.batches.results(batch.id))
        assert sorted(r.custom_id for r in results) == ["c0", "c1", "c2"]
        assert {r.result.type for r in results} == {"canceled"}


def test_expiry_gives_expired_lines_then_archive(held: EmulatorThread) -> None:
    with Anthropic(base_url=held.url, api_key="k", max_retries=0) as c:
        batch = c.messages.batches.create(requests=[request(f"e{i}", "x") for i in range(4)])
        held.advance_clock(24 * 3600 + 1)
        ended = wait_ended(c, batch.id)
        assert ended.request_counts.expired == 4 and ended.request_counts.succeeded == 0
        results = list(c.messages.batches.results(batch.id))
        assert len(results) == 4 and {r.result.type for r in results} == {"expired"}

        held.advance_clock(29 * 24 * 3600)
        archived = c.messages.batches.retrieve(batch.id)
        assert archived.archived_at is not None
        assert archived.archived_at - archived.created_at == timedelta(days=29)
        with pytest.raises(NotFoundError) as gone:
            list(c.messages.batches.results(batch.id))
        assert gone.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_documented_flow_async(emulator: EmulatorThread) -> None:
    async def flow() -> None:
        async with AsyncAnthropic(
            base_url=emulator.url, api_key="sk-ant-documented-flow", max_retries=0
        ) as c:
            batch = await c.messages.batches.create(
                requests=[request("a1", "one"), request("a2", "two", model="claude-opus-4-1")]
            )
            for _ in range(2000):
                batch = await c.messages.batches.retrieve(batch.id)
                if batch.processing_status == "ended":
                    break
                await asyncio.sleep(POLL_S)
            assert batch.request_counts.succeeded == 2
            seen = {}
            async for entry in await c.messages.batches.results(batch.id):
                assert entry.result.type == "succeeded"
                seen[entry.custom_id] = entry.result.message.model
            assert seen == {"a1": "claude-sonnet-4-5", "a2": "claude-opus-4-1"}
            ids = [b.id async for b in c.messages.batches.list(limit=1)]
            assert batch.id in ids
            deleted = await c.messages.batches.delete(batch.id)
            assert deleted.type == "message_batch_deleted"

    asyncio.run(flow())
