"""The Anthropic dialect through the aiohttp test client: envelopes and request ids,
object shapes, counts while running, the result stream, and what stays internal."""

from __future__ import annotations

import re
from typing import Any

import orjson
from conftest import Client, MakeClient

from batchport_emulator.app.keys import STATE

H = {"x-api-key": "sk-ant", "anthropic-version": "2023-06-01"}
RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def requests(n: int) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"req_{i:03d}",
            "params": {
                "model": "claude-sonnet-4-5" if i % 2 else "claude-haiku-4-5",
                "max_tokens": 32,
                "messages": [{"role": "user", "content": f"question {i}"}],
            },
        }
        for i in range(n)
    ]


async def create(client: Client, n: int) -> dict[str, Any]:
    answer = await client.post("/v1/messages/batches", json={"requests": requests(n)}, headers=H)
    assert answer.status == 200, await answer.text()
    body: dict[str, Any] = await answer.json()
    return body


async def ended(client: Client, batch_id: str) -> dict[str, Any]:
    state = client.app[STATE]
    await state.processor.drain()
    body: dict[str, Any] = await (
        await client.get(f"/v1/messages/batches/{batch_id}", headers=H)
    ).json()
    return body


async def test_every_response_has_a_request_id_and_the_envelope(make_client: MakeClient) -> None:
    client = await make_client()
    missing = await client.get("/v1/messages/batches/nothing/here", headers=H)
    assert missing.status == 404
    body = await missing.json()
    assert body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Not Found"},
        "request_id": missing.headers["request-id"],
    }
    assert body["request_id"].startswith("req_011C")
    unknown = await client.get("/v1/messages/batches/msgbatch_01nope", headers=H)
    assert unknown.status == 404 and (await unknown.json())["error"]["type"] == "not_found_error"
    no_key = await client.get("/v1/messages/batches", headers={"anthropic-version": "2023-06-01"})
    assert no_key.status == 401
    assert (await no_key.json())["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    openai = await client.get("/v1/batches", headers={"Authorization": "Bearer k"})
    assert openai.status == 200 and "x-request-id" in openai.headers
    assert "request-id" not in openai.headers


async def test_create_envelope_errors(make_client: MakeClient) -> None:
    client = await make_client()
    not_a_dict = "requests.0.params: Input should be a valid dictionary"
    cases = [
        ({}, "requests: Field required"),
        ({"requests": [{"custom_id": "a"}]}, "requests.0.params: Field required"),
        ({"requests": [{"custom_id": "a", "params": []}]}, not_a_dict),
        ({"requests": [{"params": {}}]}, "requests.0.custom_id: Field required"),
    ]
    for body, message in cases:
        answer = await client.post("/v1/messages/batches", json=body, headers=H)
        assert answer.status == 400
        assert (await answer.json())["error"]["message"] == message
    bad_json = await client.post("/v1/messages/batches", data=b"{nope", headers=H)
    assert bad_json.status == 400
    many = await make_client(anthropic={"max_requests_per_batch": 3})
    over = await many.post("/v1/messages/batches", json={"requests": requests(4)}, headers=H)
    assert (await over.json())["error"]["message"] == (
        "requests: List should have at most 3 items after validation, not 4"
    )


async def test_counts_stay_zero_until_the_end(make_client: MakeClient) -> None:
    client = await make_client(progression={"kind": "after_polls", "polls": 3})
    batch = await create(client, 6)
    assert batch["processing_status"] == "in_progress"
    for key in ("created_at", "expires_at"):
        assert RFC3339_US.match(batch[key]), batch[key]
    assert batch["ended_at"] is None and batch["results_url"] is None
    assert set(batch) == {
        "id", "type", "processing_status", "request_counts", "ended_at", "created_at",
        "expires_at", "archived_at", "cancel_initiated_at", "results_url",
    }  # fmt: skip
    seen = []
    for _ in range(20):
        current = await ended(client, batch["id"])
        seen.append(current)
        if current["processing_status"] == "ended":
            break
    running = [b for b in seen if b["processing_status"] == "in_progress"]
    assert running, "the batch ended before it was seen running"
    for b in running:
        assert b["request_counts"] == {
            "processing": 6, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0
        }  # fmt: skip
    final = seen[-1]
    assert final["request_counts"]["succeeded"] == 6 and final["request_counts"]["processing"] == 0
    assert RFC3339_US.match(final["ended_at"])
    assert final["results_url"].startswith("http://")


async def test_results_are_jsonl_shuffled_each_request_once(make_client: MakeClient) -> None:
    client = await make_client()
    batch = await create(client, 40)
    done = await ended(client, batch["id"])
    path = done["results_url"].split("//", 1)[1].split("/", 1)[1]
    answer = await client.get("/" + path, headers=H)
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/x-jsonl"
    assert answer.headers["request-id"].startswith("req_011C")
    lines = [orjson.loads(line) for line in (await answer.read()).splitlines()]
    ids = [line["custom_id"] for line in lines]
    assert sorted(ids) == [f"req_{i:03d}" for i in range(40)]
    assert ids != sorted(ids)
    assert {line["result"]["type"] for line in lines} == {"succeeded"}


async def test_cancel_before_the_rows_start_answers_every_row(make_client: MakeClient) -> None:
    client = await make_client(
        clock={"scale": 0},
        progression={"kind": "throughput", "queue_delay_s": 60, "cancelling_s": 0},
    )
    batch = await create(client, 5)
    state = client.app[STATE]
    await state.processor.drain()
    assert state.batches.get(batch["id"]).status.value == "validating"
    cancelled = await client.post(f"/v1/messages/batches/{batch['id']}/cancel", headers=H)
    assert (await cancelled.json())["processing_status"] == "canceling"
    done = await ended(client, batch["id"])
    assert done["request_counts"]["canceled"] == 5
    results = await client.get(f"/v1/messages/batches/{batch['id']}/results", headers=H)
    lines = [orjson.loads(line) for line in (await results.read()).splitlines()]
    assert sorted(line["custom_id"] for line in lines) == [f"req_{i:03d}" for i in range(5)]
    assert all(line["result"] == {"type": "canceled"} for line in lines)


async def test_internal_files_stay_out_of_the_files_api(make_client: MakeClient) -> None:
    client = await make_client()
    batch = await create(client, 2)
    await ended(client, batch["id"])
    listed = await (await client.get("/v1/files", headers={"Authorization": "Bearer k"})).json()
    assert listed["data"] == []
    internal = client.app[STATE].batches.get(batch["id"]).input_file_id
    peek = await client.get(f"/v1/files/{internal}", headers={"Authorization": "Bearer k"})
    assert peek.status == 404
    deleted = await client.delete(f"/v1/messages/batches/{batch['id']}", headers=H)
    assert await deleted.json() == {"id": batch["id"], "type": "message_batch_deleted"}
    gone = await client.get(f"/v1/messages/batches/{batch['id']}", headers=H)
    assert gone.status == 404


async def test_row_faults_become_errored_lines(make_client: MakeClient) -> None:
    client = await make_client(faults={"row_failure_rate": 1.0, "row_failure_statuses": [500]})
    batch = await create(client, 3)
    done = await ended(client, batch["id"])
    assert done["request_counts"]["errored"] == 3
    results = await client.get(f"/v1/messages/batches/{batch['id']}/results", headers=H)
    for raw in (await results.read()).splitlines():
        result = orjson.loads(raw)["result"]
        assert result["type"] == "errored"
        assert result["error"]["type"] == "error"
        assert result["error"]["error"]["type"] == "api_error"
