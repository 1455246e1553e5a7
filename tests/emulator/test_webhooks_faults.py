"""Webhook faults (drop, delay, duplicate, reorder) and the Gemini and Anthropic dialects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from conftest import MakeClient
from emu_jsonl import chat_file
from emu_webhooks import SECRET, Receiver, start_receiver
from test_http_api import run_batch

from batchport_emulator.app.keys import STATE
from batchport_emulator.faults import unit_draw

FROZEN = {"clock": {"scale": 0}}
GEMINI_KEY = {"x-goog-api-key": "g"}
ANTHROPIC = {"x-api-key": "sk-ant", "anthropic-version": "2023-06-01"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for found in start_receiver():
        yield found


def config(receiver: Receiver, seed: int = 0, **faults: float) -> dict[str, Any]:
    return {**FROZEN, "seed": seed, "faults": faults,
            "webhooks": {"urls": [receiver.url], "secret": SECRET}}  # fmt: skip


def verify(body: bytes, headers: dict[str, str]) -> Any:
    with openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as sdk:
        return sdk.webhooks.unwrap(body, headers, secret=SECRET)


async def test_a_dropped_delivery_is_never_sent(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**config(receiver, webhook_drop_rate=1.0))
    state = client.app[STATE]
    await run_batch(client, chat_file(1))
    (delivery,) = state.webhooks.deliveries()
    assert (delivery.status, delivery.fault) == ("dropped", "drop")
    state.advance_clock(86_400)
    await state.webhooks.tick()
    assert receiver.received == []


async def test_a_delayed_delivery_waits_on_the_virtual_clock(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**config(receiver, webhook_delay_rate=1.0, webhook_delay_s=30))
    state = client.app[STATE]
    await run_batch(client, chat_file(1))
    state.advance_clock(29)
    await state.webhooks.tick()
    assert receiver.received == []
    state.advance_clock(1)
    (got,) = await receiver.wait_for(1)
    assert verify(got.body, got.headers).type == "batch.completed"


async def test_a_duplicated_delivery_arrives_twice_with_one_id(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**config(receiver, webhook_duplicate_rate=1.0))
    await run_batch(client, chat_file(1))
    first, second = await receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    for got in (first, second):
        verify(got.body, got.headers)


async def test_a_reordered_delivery_arrives_after_the_next_one(
    make_client: MakeClient, receiver: Receiver
) -> None:
    # a seed under which the first delivery is held back and the second is not
    seed = next(s for s in range(1000)
                if unit_draw(s, "webhook", 1) < 0.5 <= unit_draw(s, "webhook", 2))  # fmt: skip
    client = await make_client(**config(receiver, seed, webhook_reorder_rate=0.5))
    state = client.app[STATE]
    a = await run_batch(client, chat_file(1))
    await state.webhooks.tick()
    assert receiver.received == []
    assert state.webhooks.deliveries()[0].status == "held"
    b = await run_batch(client, chat_file(1))
    got = await receiver.wait_for(2)
    assert [r.event["data"]["id"] for r in got] == [b["id"], a["id"]]


async def test_a_held_delivery_goes_alone_after_the_delay(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**config(receiver, webhook_reorder_rate=1.0, webhook_delay_s=60))
    state = client.app[STATE]
    await run_batch(client, chat_file(1))
    state.advance_clock(60)
    (got,) = await receiver.wait_for(1)
    assert got.event["type"] == "batch.completed"


async def test_the_same_seed_draws_the_same_faults(
    make_client: MakeClient, receiver: Receiver
) -> None:
    rates = {"webhook_drop_rate": 0.3, "webhook_duplicate_rate": 0.3}
    seen = []
    for _ in range(2):
        client = await make_client(**config(receiver, 7, **rates))
        for _ in range(4):
            await run_batch(client, chat_file(1))
        seen.append([d.fault for d in client.app[STATE].webhooks.deliveries()])
    assert seen[0] == seen[1]


def gemini_body(**webhook_config: Any) -> dict[str, Any]:
    items = [{"request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}]
    batch: dict[str, Any] = {"displayName": "d", "inputConfig": {"requests": {"requests": items}}}
    if webhook_config:
        batch["webhookConfig"] = webhook_config
    return {"batch": batch}


async def test_gemini_sends_its_thin_event_with_user_metadata_to_the_job_uris(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**config(receiver))
    state = client.app[STATE]
    job_uri = receiver.url.replace("/hooks", "/job")
    body = gemini_body(uris=[job_uri], userMetadata={"run": "r1", "n": 2})
    created = await client.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body, headers=GEMINI_KEY
    )
    assert created.status == 200, await created.text()
    name = (await created.json())["name"]
    await state.processor.drain()
    (got,) = await receiver.wait_for(1)
    assert got.path == "/job"  # the job's URIs replace the configured ones
    assert got.event == {"type": "batch.succeeded", "data": {"id": name},
                         "user_metadata": {"run": "r1", "n": 2}}  # fmt: skip
    with openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as sdk:
        sdk.webhooks.verify_signature(got.body, got.headers, secret=SECRET)

    plain = await client.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        json=gemini_body(),
        headers=GEMINI_KEY,
    )
    await state.processor.drain()
    _, second = await receiver.wait_for(2)
    assert second.path == "/hooks"
    assert second.event == {"type": "batch.succeeded", "data": {"id": (await plain.json())["name"]}}


async def test_gemini_refuses_job_uris_off_loopback_and_bad_configs(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**config(receiver))
    state = client.app[STATE]
    url = "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
    far = gemini_body(uris=["https://hooks.example.com/x"])
    assert (await client.post(url, json=far, headers=GEMINI_KEY)).status == 200
    await state.processor.drain()
    (delivery,) = state.webhooks.deliveries()
    assert delivery.status == "refused"
    for bad in ({"uris": "http://127.0.0.1/"}, {"userMetadata": [1]}):
        answer = await client.post(url, json=gemini_body(**bad), headers=GEMINI_KEY)
        assert answer.status == 400


async def test_a_cancelled_gemini_batch_and_anthropic_batches_send_nothing(
    make_client: MakeClient, receiver: Receiver
) -> None:
    held = {"kind": "throughput", "requests_per_s": 1.0, "queue_delay_s": 100}
    client = await make_client(**config(receiver), progression=held)
    state = client.app[STATE]
    created = await client.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        json=gemini_body(),
        headers=GEMINI_KEY,
    )
    name = (await created.json())["name"]
    assert (await client.post(f"/v1beta/{name}:cancel", headers=GEMINI_KEY)).status == 200
    requests = [{"custom_id": "a", "params": {"model": "claude-haiku-4-5", "max_tokens": 8,
                 "messages": [{"role": "user", "content": "hi"}]}}]  # fmt: skip
    made = await client.post("/v1/messages/batches", json={"requests": requests}, headers=ANTHROPIC)
    assert made.status == 200, await made.text()
    for _ in range(10):
        state.advance_clock(1_000)
        await state.processor.drain()
    assert all(b.terminal for b in state.batches.all())
    assert {b.dialect for b in state.batches.all()} == {"gemini", "anthropic"}
    await state.webhooks.tick()
    assert state.webhooks.deliveries() == []
    assert receiver.received == []
