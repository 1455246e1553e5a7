"""Handlers through the aiohttp test client: wire shapes, errors, auth, pagination."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from conftest import Client, MakeClient
from emu_jsonl import chat_file, parse_lines

AUTH = {"Authorization": "Bearer sk-test"}


async def upload(
    client: Client,
    data: bytes,
    *,
    filename: str = "in.jsonl",
    purpose: str | None = "batch",
    **fields: str,
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    if purpose is not None:
        form.add_field("purpose", purpose)
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=filename, content_type="application/jsonl")
    return await client.post("/v1/files", data=form, headers=AUTH)


async def run_batch(client: Client, data: bytes, **extra: Any) -> dict[str, Any]:
    uploaded = await (await upload(client, data)).json()
    assert "id" in uploaded, uploaded
    file_id = uploaded["id"]
    body = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        **extra,
    }
    resp = await client.post("/v1/batches", json=body, headers=AUTH)
    assert resp.status == 200, await resp.text()
    batch: dict[str, Any] = await resp.json()
    for _ in range(200):
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            return batch
        await asyncio.sleep(0.01)
        batch = await (await client.get(f"/v1/batches/{batch['id']}", headers=AUTH)).json()
    raise AssertionError(f"batch never finished: {batch}")


def assert_envelope(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


async def test_batch_object_has_every_field(make_client: MakeClient) -> None:
    client = await make_client()
    batch = await run_batch(client, chat_file(3), metadata={"k": "v"})
    assert set(batch) == {
        "id",
        "object",
        "endpoint",
        "model",
        "errors",
        "input_file_id",
        "completion_window",
        "status",
        "output_file_id",
        "error_file_id",
        "created_at",
        "in_progress_at",
        "expires_at",
        "finalizing_at",
        "completed_at",
        "failed_at",
        "expired_at",
        "cancelling_at",
        "cancelled_at",
        "request_counts",
        "metadata",
        "usage",
    }
    assert batch["expires_at"] == batch["created_at"] + 86_400
    assert batch["metadata"] == {"k": "v"}
    assert batch["error_file_id"] is None
    assert batch["usage"]["total_tokens"] == (
        batch["usage"]["input_tokens"] + batch["usage"]["output_tokens"]
    )
    resp = await client.get(f"/v1/files/{batch['output_file_id']}/content", headers=AUTH)
    assert resp.status == 200
    assert "x-request-id" in resp.headers
    assert len(parse_lines(await resp.read())) == 3


async def test_file_object_and_expiry(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await upload(
        client,
        chat_file(1),
        **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "3600"},
    )
    body = await resp.json()
    assert resp.status == 200
    assert set(body) == {
        "id",
        "object",
        "bytes",
        "created_at",
        "filename",
        "purpose",
        "status",
        "expires_at",
        "status_details",
    }
    assert body["expires_at"] == body["created_at"] + 3600
    assert body["status"] == "processed"
    default = await (await upload(client, chat_file(1))).json()
    assert default["expires_at"] == default["created_at"] + 2_592_000
    other = await (await upload(client, b"x", filename="a.txt", purpose="user_data")).json()
    assert other["expires_at"] is None
    denied = await client.get(f"/v1/files/{other['id']}/content", headers=AUTH)
    assert denied.status == 400
    assert "Not allowed to download files of purpose: user_data" in (await denied.text())
    await client.post("/_emulator/clock", json={"advance": 3600})
    gone = await client.get(f"/v1/files/{body['id']}", headers=AUTH)
    assert gone.status == 404


@pytest.mark.parametrize(
    ("data", "filename", "purpose", "fields", "message"),
    [
        (b'{"a":1}\n', "in.txt", "batch", {}, "Invalid file format for Batch API. Must be .jsonl"),
        (b"", "in.jsonl", "batch", {}, "Invalid file format for Batch API. Must be .jsonl"),
        (b"garbage\n{}", "in.jsonl", "batch", {}, "Must be .jsonl"),
        (b"{}", "in.jsonl", None, {}, "Missing required parameter: 'purpose'."),
        (b"{}", "in.jsonl", "nope", {}, "Invalid value: 'nope'."),
        (
            b"{}",
            "in.jsonl",
            "batch",
            {"expires_after[anchor]": "created_at", "expires_after[seconds]": "5"},
            "between 3600",
        ),
    ],
)
async def test_upload_refusals(
    make_client: MakeClient,
    data: bytes,
    filename: str,
    purpose: str | None,
    fields: dict[str, str],
    message: str,
) -> None:
    client = await make_client()
    resp = await upload(client, data, filename=filename, purpose=purpose, **fields)
    assert resp.status == 400
    assert message in assert_envelope(await resp.json())["message"]
    listing = await (await client.get("/v1/files", headers=AUTH)).json()
    assert listing["data"] == []


async def test_upload_size_limits(make_client: MakeClient) -> None:
    client = await make_client(limits={"batch_file_max_bytes": 1000, "file_max_bytes": 5000})
    too_big = await upload(client, chat_file(20))
    assert too_big.status == 400
    assert assert_envelope(await too_big.json())["message"] == "File is too large."
    ok = await upload(client, chat_file(20), filename="x.bin", purpose="user_data")
    assert ok.status == 200
    beyond = await upload(client, chat_file(60), filename="x.bin", purpose="user_data")
    assert beyond.status == 413
    huge = await client.post(
        "/v1/files",
        data=b"x" * 10,
        headers={**AUTH, "Content-Length": "10", "Content-Type": "multipart/form-data; boundary=z"},
    )
    assert huge.status == 400
    assert (await client.get("/v1/files", headers=AUTH)).status == 200


async def test_not_multipart_and_missing_file(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.post("/v1/files", json={"purpose": "batch"}, headers=AUTH)
    assert resp.status == 400
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("other", "x", filename="f")
    missing = await client.post("/v1/files", data=form, headers=AUTH)
    assert missing.status == 400
    assert assert_envelope(await missing.json())["param"] == "file"


async def test_auth(make_client: MakeClient) -> None:
    client = await make_client()
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
        resp = await client.get("/v1/batches", headers=headers)
        assert resp.status == 401
        assert "x-request-id" in resp.headers
        assert "API key" in assert_envelope(await resp.json())["message"]
    assert (await client.get("/v1/batches", headers=AUTH)).status == 200
    assert (await client.get("/_emulator/config")).status == 200  # control needs no key
    strict = await make_client(api_keys=["sk-good"])
    bad = await strict.get("/v1/batches", headers={"Authorization": "Bearer sk-bad"})
    error = assert_envelope(await bad.json())
    assert bad.status == 401
    assert error["code"] == "invalid_api_key"
    assert "sk-bad" not in await bad.text()
    good = await strict.get("/v1/batches", headers={"Authorization": "Bearer sk-good"})
    assert good.status == 200


async def test_not_found_and_conflict_bodies(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.get("/v1/batches/batch_nope", headers=AUTH)
    assert resp.status == 404
    assert assert_envelope(await resp.json())["message"] == "No batch found with id 'batch_nope'."
    resp = await client.get("/v1/files/file-nope", headers=AUTH)
    error = assert_envelope(await resp.json())
    assert (resp.status, error["message"], error["param"]) == (
        404,
        "No such File object: file-nope",
        "id",
    )
    assert (await client.delete("/v1/files/file-nope", headers=AUTH)).status == 404
    assert (await client.post("/v1/batches/batch_nope/cancel", headers=AUTH)).status == 404
    resp = await client.get("/v1/nothing/here", headers=AUTH)
    assert resp.status == 404
    assert assert_envelope(await resp.json())["message"] == "Invalid URL (GET /v1/nothing/here)"
    batch = await run_batch(client, chat_file(1))
    conflict = await client.post(f"/v1/batches/{batch['id']}/cancel", headers=AUTH)
    assert conflict.status == 409
    assert conflict.headers["x-should-retry"] == "false"
    assert "x-request-id" in conflict.headers


async def test_delete_file(make_client: MakeClient) -> None:
    client = await make_client()
    file_id = (await (await upload(client, chat_file(1))).json())["id"]
    resp = await client.delete(f"/v1/files/{file_id}", headers=AUTH)
    assert await resp.json() == {"id": file_id, "object": "file", "deleted": True}
    assert (await client.get(f"/v1/files/{file_id}/content", headers=AUTH)).status == 404


async def test_create_param_errors_over_http(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.post(
        "/v1/batches",
        json={"endpoint": "/v1/chat/completions", "completion_window": "24h"},
        headers=AUTH,
    )
    error = assert_envelope(await resp.json())
    assert (resp.status, error["code"], error["param"]) == (
        400,
        "missing_required_parameter",
        "input_file_id",
    )
    resp = await client.post("/v1/batches", data=b"{nope", headers=AUTH)
    assert resp.status == 400
    assert "could not parse the JSON body" in await resp.text()
    file_id = (await (await upload(client, b"x", filename="a.txt", purpose="user_data")).json())[
        "id"
    ]
    resp = await client.post(
        "/v1/batches",
        json={
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
        headers=AUTH,
    )
    assert resp.status == 400


async def test_batch_pagination_newest_first(make_client: MakeClient) -> None:
    client = await make_client()
    file_id = (await (await upload(client, chat_file(1))).json())["id"]
    made = []
    for _ in range(5):
        resp = await client.post(
            "/v1/batches",
            json={
                "input_file_id": file_id,
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
            headers=AUTH,
        )
        made.append((await resp.json())["id"])
    page = await (await client.get("/v1/batches?limit=2", headers=AUTH)).json()
    assert [b["id"] for b in page["data"]] == made[::-1][:2]
    assert page["has_more"] is True
    assert page["first_id"] == made[4]
    assert page["last_id"] == made[3]
    page = await (await client.get(f"/v1/batches?limit=2&after={made[1]}", headers=AUTH)).json()
    assert [b["id"] for b in page["data"]] == [made[0]]
    assert page["has_more"] is False
    for bad in ("limit=0", "limit=101", "limit=abc", "limit=-3", "after=batch_unknown"):
        resp = await client.get(f"/v1/batches?{bad}", headers=AUTH)
        assert resp.status == 400, bad
        assert_envelope(await resp.json())


async def test_file_pagination_and_deleted_cursor(make_client: MakeClient) -> None:
    client = await make_client()
    ids = [(await (await upload(client, chat_file(1))).json())["id"] for _ in range(4)]
    page = await (await client.get("/v1/files?limit=2&order=asc", headers=AUTH)).json()
    assert [f["id"] for f in page["data"]] == ids[:2]
    assert page["has_more"]
    await client.delete(f"/v1/files/{ids[1]}", headers=AUTH)
    page = await (await client.get(f"/v1/files?order=asc&after={ids[1]}", headers=AUTH)).json()
    assert [f["id"] for f in page["data"]] == ids[2:]
    assert page["has_more"] is False
    purpose = await (await client.get("/v1/files?purpose=batch_output", headers=AUTH)).json()
    assert purpose["data"] == []
    assert purpose["first_id"] is None
    for bad in ("order=sideways", "limit=10001", "limit=1.5"):
        assert (await client.get(f"/v1/files?{bad}", headers=AUTH)).status == 400


async def test_concurrent_cancels_are_all_answered(make_client: MakeClient) -> None:
    client = await make_client(progression={"kind": "after_polls", "polls": 50})
    file_id = (await (await upload(client, chat_file(5))).json())["id"]
    batch = await (
        await client.post(
            "/v1/batches",
            json={
                "input_file_id": file_id,
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
            headers=AUTH,
        )
    ).json()
    responses = await asyncio.gather(
        *(client.post(f"/v1/batches/{batch['id']}/cancel", headers=AUTH) for _ in range(20))
    )
    assert {r.status for r in responses} == {200}
    statuses = {(await r.json())["status"] for r in responses}
    assert statuses <= {"cancelling", "cancelled"}
