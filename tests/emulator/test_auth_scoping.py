"""Credentials: Azure bearer tokens are checked safely by default, and with API keys
configured each credential sees only the files and batches it made (both dialects)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Client, MakeClient
from emu_jsonl import chat_file, jsonl

from batchport_emulator.config import EmulatorConfig
from batchport_emulator.errors import ApiError
from batchport_emulator.state import EmulatorState

V = "?api-version=2024-10-21"
AUD = "https://cognitiveservices.azure.com"


def jwt(aud: str = AUD, exp: float | None = None, **claims: Any) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    payload = {"aud": aud, "exp": int(exp if exp is not None else time.time() + 600), **claims}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(payload)}.c2ln"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """The files and batches calls of one dialect, made with one credential."""

    def __init__(self, client: Client, headers: dict[str, str], *, azure: bool) -> None:
        self.client, self.headers = client, headers
        self.prefix, self.query = ("/openai", V) if azure else ("/v1", "")

    def url(self, path: str) -> str:
        return f"{self.prefix}{path}{self.query}"

    async def upload(self, data: bytes) -> aiohttp.ClientResponse:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", data, filename="in.jsonl", content_type="application/jsonl")
        return await self.client.post(self.url("/files"), data=form, headers=self.headers)

    async def create(self, file_id: str) -> aiohttp.ClientResponse:
        body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions"}
        if self.prefix == "/openai":
            body["endpoint"] = "/chat/completions"
        body["completion_window"] = "24h"
        return await self.client.post(self.url("/batches"), json=body, headers=self.headers)

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.client.get(self.url(path), headers=self.headers)

    async def post(self, path: str) -> aiohttp.ClientResponse:
        return await self.client.post(self.url(path), headers=self.headers)

    async def delete(self, path: str) -> aiohttp.ClientResponse:
        return await self.client.delete(self.url(path), headers=self.headers)

    async def ids(self, path: str) -> set[str]:
        resp = await self.get(path)
        assert resp.status == 200
        return {item["id"] for item in (await resp.json())["data"]}

    async def finished(self, batch_id: str) -> dict[str, Any]:
        for _ in range(500):
            batch: dict[str, Any] = await (await self.get(f"/batches/{batch_id}")).json()
            if batch["status"] in ("completed", "failed", "expired", "cancelled"):
                return batch
            await asyncio.sleep(0.01)
        raise AssertionError(f"batch {batch_id} did not finish")


def azure_rows(n: int = 2) -> bytes:
    rows = [
        {
            "custom_id": f"task-{i}",
            "method": "POST",
            "url": "/chat/completions",
            "body": {"model": "gpt-4o-batch", "messages": [{"role": "user", "content": "hi"}]},
        }
        for i in range(n)
    ]
    return jsonl(rows)


async def test_azure_bearer_tokens_must_be_cognitive_services_jwts_when_keys_are_set(
    make_client: MakeClient,
) -> None:
    client = await make_client(api_keys=["azk-a"])
    url = "/openai/batches" + V
    cases = [
        ("whatever", 401),
        ("a.b.c", 401),
        (jwt(), 200),
        (jwt(aud=AUD + "/"), 200),
        (jwt(aud="https://management.azure.com"), 401),
        (jwt(exp=time.time() - 5), 401),
        ("azk-a", 200),  # the v1 API sends the key as a bearer token
    ]
    for token, status in cases:
        resp = await client.get(url, headers=bearer(token))
        assert resp.status == status, token
        if status == 401:
            assert (await resp.json())["error"]["code"] == "401"
    relaxed = await make_client(api_keys=["azk-a"], azure={"bearer_validator": "any"})
    assert (await relaxed.get(url, headers=bearer("whatever"))).status == 200


async def test_azure_files_and_batches_belong_to_the_key_that_made_them(
    make_client: MakeClient,
) -> None:
    client = await make_client(api_keys=["azk-a", "azk-b"])
    a = Api(client, {"api-key": "azk-a"}, azure=True)
    b = Api(client, {"api-key": "azk-b"}, azure=True)
    up = await a.upload(azure_rows())
    assert up.status == 201
    file_id = (await up.json())["id"]
    theirs = await b.upload(azure_rows())
    their_file = (await theirs.json())["id"]
    created = await a.create(file_id)
    assert created.status == 200
    batch_id = (await created.json())["id"]

    assert (await b.create(file_id)).status == 404  # another's input file is unknown
    for path in (f"/files/{file_id}", f"/files/{file_id}/content", f"/batches/{batch_id}"):
        resp = await b.get(path)
        assert resp.status == 404, path
    assert (await b.post(f"/batches/{batch_id}/cancel")).status == 404
    assert (await b.delete(f"/files/{file_id}")).status == 404
    assert await b.ids("/files") == {their_file}
    assert await b.ids("/batches") == set()
    mine = await a.ids("/files")  # the input, and any result files by now
    assert file_id in mine and their_file not in mine
    assert await a.ids("/batches") == {batch_id}

    batch = await a.finished(batch_id)
    assert batch["status"] == "completed"
    output = batch["output_file_id"]
    assert (await a.get(f"/files/{output}/content")).status == 200
    assert (await b.get(f"/files/{output}/content")).status == 404
    assert (await b.get(f"/files/{output}")).status == 404
    assert output not in await b.ids("/files")
    assert output in await a.ids("/files")
    assert (await a.delete(f"/files/{file_id}")).status == 200


async def test_entra_principals_are_scoped_apart_from_each_other_and_from_keys(
    make_client: MakeClient,
) -> None:
    client = await make_client(api_keys=["azk-a"])
    alice = Api(client, bearer(jwt(oid="alice")), azure=True)
    alice_again = Api(client, bearer(jwt(oid="alice", exp=time.time() + 900)), azure=True)
    bob = Api(client, bearer(jwt(oid="bob")), azure=True)
    key = Api(client, {"api-key": "azk-a"}, azure=True)
    file_id = (await (await alice.upload(azure_rows())).json())["id"]
    assert (await alice_again.get(f"/files/{file_id}")).status == 200  # a refreshed token
    assert (await bob.get(f"/files/{file_id}")).status == 404
    assert (await key.get(f"/files/{file_id}")).status == 404
    assert await bob.ids("/files") == set()


async def test_openai_files_and_batches_belong_to_the_key_that_made_them(
    make_client: MakeClient,
) -> None:
    client = await make_client(api_keys=["sk-a", "sk-b"])
    a = Api(client, bearer("sk-a"), azure=False)
    b = Api(client, bearer("sk-b"), azure=False)
    file_id = (await (await a.upload(chat_file(2))).json())["id"]
    batch_id = (await (await a.create(file_id)).json())["id"]
    assert (await b.get(f"/files/{file_id}")).status == 404
    assert (await b.get(f"/batches/{batch_id}")).status == 404
    assert (await b.post(f"/batches/{batch_id}/cancel")).status == 404
    assert (await b.create(file_id)).status == 404
    assert await b.ids("/batches") == set()
    assert await b.ids("/files") == set()
    assert (await a.finished(batch_id))["status"] == "completed"
    assert await a.ids("/batches") == {batch_id}


async def test_without_api_keys_every_client_sees_everything(make_client: MakeClient) -> None:
    client = await make_client()
    a = Api(client, bearer("sk-one"), azure=False)
    b = Api(client, bearer("sk-two"), azure=False)
    file_id = (await (await a.upload(chat_file(1))).json())["id"]
    assert (await b.get(f"/files/{file_id}")).status == 200
    assert await b.ids("/files") == {file_id}


async def test_ownership_survives_a_restart(tmp_path: Path) -> None:
    config = EmulatorConfig.model_validate({"data_dir": str(tmp_path), "api_keys": ["sk-a"]})
    state = EmulatorState(config)
    dialect = state.dialects["openai"]
    sink = state.begin_upload()
    sink.write(chat_file(1))
    record = state.finish_upload(
        sink,
        filename="in.jsonl",
        purpose="batch",
        expires_after_s=None,
        dialect=dialect,
        principal="key:a",
    )
    params = dialect.rules.parse_create_params(
        {
            "input_file_id": record.id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        }
    )
    batch = state.create_batch(params, dialect=dialect, principal="key:a")
    await state.aclose()
    again = EmulatorState(config)
    try:
        with pytest.raises(ApiError) as missing:
            again.poll_batch(batch.id, principal="key:b")
        assert missing.value.status == 404
        with pytest.raises(ApiError):
            again.poll_file(record.id, dialect, principal="key:b")
        assert again.poll_batch(batch.id, principal="key:a").id == batch.id
        assert again.poll_file(record.id, dialect, principal="key:a").id == record.id
    finally:
        await again.aclose()


async def test_the_read_timeout_is_startup_only(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.patch("/_emulator/config", json={"read_timeout_s": 1})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "startup_only_setting"
