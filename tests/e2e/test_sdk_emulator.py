"""The official openai SDK, sync and async, strict, against the embedded emulator."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx2
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from batchport_emulator import Emulator, EmulatorThread

TERMINAL = {"completed", "failed", "expired", "cancelled"}


def rows(n: int, marker: str = "") -> bytes:
    return "".join(
        json.dumps(
            {
                "custom_id": f"c{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"q{i} {marker if i == 0 else ''}"}],
                },
            }
        )
        + "\n"
        for i in range(n)
    ).encode()


def wait(client: OpenAI, batch_id: str) -> Any:
    for _ in range(500):
        batch = client.batches.retrieve(batch_id)
        if batch.status in TERMINAL:
            return batch
        time.sleep(0.01)
    raise AssertionError("batch did not finish")


@pytest.fixture
def client(batch_emulator: EmulatorThread) -> OpenAI:
    return OpenAI(
        base_url=batch_emulator.base_url,
        api_key="sk-test",
        _strict_response_validation=True,
        max_retries=0,
    )


def test_five_step_workflow_sync_strict(client: OpenAI) -> None:
    uploaded = client.files.create(
        file=("in.jsonl", io.BytesIO(rows(6, "[[emulator:status=500]]"))), purpose="batch"
    )
    assert uploaded.status == "processed"
    assert uploaded._request_id
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "t"},
    )
    assert batch.status == "validating"
    done = wait(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts.completed == 5
    assert done.usage is not None
    assert done.usage.output_tokens > 0
    out = client.files.content(done.output_file_id or "").text.splitlines()
    err = client.files.content(done.error_file_id or "").text.splitlines()
    assert len(out) == 5
    assert json.loads(err[0])["response"]["status_code"] == 500
    assert [b.id for b in client.batches.list()] == [batch.id]
    assert {f.purpose for f in client.files.list()} == {"batch", "batch_output"}


def test_sdk_errors_map_to_exception_classes(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.batches.retrieve("batch_missing")
    assert info.value.request_id
    assert info.value.request_id.startswith("req_")
    with pytest.raises(openai.BadRequestError) as bad:
        client.batches.create(
            input_file_id="f",
            endpoint="/v1/nope",  # type: ignore[arg-type]
            completion_window="24h",
        )
    assert bad.value.code == "invalid_value"
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(rows(1))), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    wait(client, batch.id)
    # The SDK retries a 409 by default; x-should-retry: false stops the 2 retries, so the
    # emulator sees exactly one attempt.
    attempts: list[str] = []
    counting = httpx2.Client(
        event_hooks={"request": [lambda r: attempts.append(f"{r.method} {r.url.path}")]}
    )
    with counting:
        retrying = client.with_options(max_retries=2, http_client=counting)
        with pytest.raises(openai.ConflictError) as conflict:
            retrying.batches.cancel(batch.id)
    assert conflict.value.response.headers["x-should-retry"] == "false"
    assert attempts == [f"POST /v1/batches/{batch.id}/cancel"]


def test_sdk_pagination_walks_every_page(client: OpenAI) -> None:
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(rows(1))), purpose="batch")
    made = [
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        ).id
        for _ in range(7)
    ]
    seen = [b.id for b in client.batches.list(limit=3)]
    assert seen == made[::-1]


def test_sdk_cancel_then_cancelled(batch_emulator: EmulatorThread, client: OpenAI) -> None:
    batch_emulator.configure({"progression": {"kind": "after_polls", "polls": 3}})
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(rows(4))), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at
    done = wait(client, batch.id)
    assert done.status == "cancelled"
    assert done.cancelled_at
    assert [b["status"] for b in batch_emulator.batches()] == ["cancelled"]


def test_sdk_expiry_via_clock(batch_emulator: EmulatorThread, client: OpenAI) -> None:
    batch_emulator.configure({"faults": {"expire_rate": 1.0, "expire_progress": 0.5}})
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(rows(4))), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    for _ in range(200):
        if client.batches.retrieve(batch.id).request_counts.completed == 2:
            break
        time.sleep(0.01)
    batch_emulator.advance_clock(86_400)
    done = wait(client, batch.id)
    assert done.status == "expired"
    lines = [
        json.loads(x) for x in client.files.content(done.error_file_id or "").text.split("\n") if x
    ]
    assert {x["error"]["code"] for x in lines} == {"batch_expired"}
    batch_emulator.reset()
    assert batch_emulator.batches() == []


def test_sdk_retries_injected_429_and_500(batch_emulator: EmulatorThread) -> None:
    batch_emulator.configure(
        {"seed": 1, "faults": {"api_error_rate": 0.5, "api_error_kinds": ["429", "500", "drop"]}}
    )
    client = OpenAI(
        base_url=batch_emulator.base_url,
        api_key="k",
        max_retries=8,
        _strict_response_validation=True,
    )
    for _ in range(6):
        assert client.batches.list().data == []


def test_realtime_chat_strict(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content
    emb = client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], dimensions=8, encoding_format="float"
    )
    assert len(emb.data) == 2
    assert len(emb.data[0].embedding) == 8


async def test_async_sdk_strict_against_emulator() -> None:
    async with Emulator() as emu:
        client = AsyncOpenAI(
            base_url=emu.base_url, api_key="k", _strict_response_validation=True, max_retries=0
        )
        uploaded = await client.files.create(
            file=("in.jsonl", io.BytesIO(rows(3))), purpose="batch"
        )
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        import asyncio

        for _ in range(300):
            batch = await client.batches.retrieve(batch.id)
            if batch.status in TERMINAL:
                break
            await asyncio.sleep(0.01)
        assert batch.status == "completed"
        content = await client.files.content(batch.output_file_id or "")
        assert len(content.text.splitlines()) == 3
        assert emu.batches()[0]["request_counts"]["completed"] == 3
        page = await client.files.list()
        assert len(page.data) == 2
        await client.close()


@pytest.mark.parametrize("batch_emulator", [{"api_keys": ["sk-only"]}], indirect=True)
def test_plugin_indirect_config(batch_emulator: EmulatorThread) -> None:
    ok = OpenAI(base_url=batch_emulator.base_url, api_key="sk-only", max_retries=0)
    assert ok.batches.list().data == []
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=batch_emulator.base_url, api_key="sk-other", max_retries=0).files.list()
