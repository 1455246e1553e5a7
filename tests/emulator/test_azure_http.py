"""The Azure dialect through the aiohttp test client: routes, api-version, auth, error
bodies, uploads going pending -> processed, file limits and object shapes."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import aiohttp
import pytest
from conftest import Client, MakeClient
from emu_jsonl import jsonl

KEY = {"api-key": "azk-test"}
V = "?api-version=2024-10-21"
NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}


def azure_row(
    i: int, model: str = "gpt-4o-batch", url: str = "/chat/completions"
) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": f"hello {i}"}]}
    return {"custom_id": f"task-{i}", "method": "POST", "url": url, "body": body}


async def upload(
    client: Client, data: bytes, *, path: str = "/openai/files" + V, **fields: str
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename="in.jsonl", content_type="application/jsonl")
    return await client.post(path, data=form, headers=KEY)


async def create(client: Client, file_id: str, **extra: Any) -> aiohttp.ClientResponse:
    body = {"input_file_id": file_id, "endpoint": "/chat/completions", "completion_window": "24h"}
    return await client.post("/openai/batches" + V, json={**body, **extra}, headers=KEY)


@pytest.mark.parametrize(
    "path",
    [
        "/openai/batches",  # no api-version
        "/openai/batches?api-version=2024-07-18",  # a model version, not an API version
        "/openai/deployments/gpt-4o-batch/batches" + V,
        "/openai/deployments/gpt-4o-batch/files" + V,
        "/openai/v1/batches?api-version=2024-10-21",
    ],
)
async def test_wrong_paths_get_azures_404(make_client: MakeClient, path: str) -> None:
    client = await make_client()
    resp = await client.get(path, headers=KEY)
    assert resp.status == 404
    assert await resp.json() == NOT_FOUND


@pytest.mark.parametrize(
    "path", ["/openai/batches" + V, "/openai/v1/batches", "/openai/v1/batches?api-version=preview"]
)
async def test_both_api_families_list_batches(make_client: MakeClient, path: str) -> None:
    client = await make_client()
    resp = await client.get(path, headers=KEY)
    assert resp.status == 200
    assert (await resp.json())["object"] == "list"


async def test_api_key_header_is_checked_against_configured_keys(make_client: MakeClient) -> None:
    client = await make_client(api_keys=["azk-test"])
    assert (await client.get("/openai/batches" + V, headers=KEY)).status == 200
    bad = await client.get("/openai/batches" + V, headers={"api-key": "azk-wrong-secret"})
    assert bad.status == 401
    body = await bad.json()
    assert body["error"]["code"] == "401"
    assert "invalid subscription key" in body["error"]["message"]
    assert "azk-wrong-secret" not in await bad.text()
    missing = await client.get("/openai/batches" + V)
    assert missing.status == 401
    assert "missing subscription key" in (await missing.json())["error"]["message"]
    # an accepted key also passes as a bearer token (what OpenAI(api_key=...) sends on v1)
    v1 = await client.get("/openai/v1/batches", headers={"Authorization": "Bearer azk-test"})
    assert v1.status == 200


def fake_jwt(aud: str, exp: float) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'aud': aud, 'exp': int(exp)})}.c2ln"


async def test_bearer_tokens_any_without_keys_and_jwt_when_configured(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    ok = await client.get("/openai/batches" + V, headers={"Authorization": "Bearer whatever"})
    assert ok.status == 200
    strict = await make_client(azure={"bearer_validator": "jwt"})
    good = fake_jwt("https://cognitiveservices.azure.com", time.time() + 600)
    wrong_aud = fake_jwt("https://management.azure.com", time.time() + 600)
    expired = fake_jwt("https://cognitiveservices.azure.com", time.time() - 1)
    for token, status in ((good, 200), (wrong_aud, 401), (expired, 401), ("not-a-jwt", 401)):
        resp = await strict.get("/openai/batches" + V, headers={"Authorization": f"Bearer {token}"})
        assert resp.status == status, token
    resp = await strict.get("/openai/batches" + V, headers={"Authorization": f"Bearer {expired}"})
    assert "audience is incorrect" in (await resp.json())["error"]["message"]


def only_magic(token: str) -> bool:
    return token == "magic-token"


async def test_bearer_validator_can_be_a_callable(make_client: MakeClient) -> None:
    client = await make_client(azure={"bearer_validator": f"{__name__}:only_magic"})
    ok = await client.get("/openai/v1/batches", headers={"Authorization": "Bearer magic-token"})
    bad = await client.get("/openai/v1/batches", headers={"Authorization": "Bearer other"})
    assert (ok.status, bad.status) == (200, 401)


async def test_upload_is_201_pending_then_processed(make_client: MakeClient) -> None:
    client = await make_client(azure={"file_processing_polls": 2})
    resp = await upload(client, jsonl([azure_row(0)]))
    assert resp.status == 201
    obj = await resp.json()
    assert (obj["status"], obj["expires_at"], obj["purpose"]) == ("pending", None, "batch")
    refused = await create(client, obj["id"])
    assert refused.status == 400
    message = (await refused.json())["error"]["message"]
    assert f"The input file '{obj['id']}' is in 'pending' state" in message
    seen = [
        (await (await client.get(f"/openai/files/{obj['id']}{V}", headers=KEY)).json())["status"]
        for _ in range(2)
    ]
    assert seen == ["pending", "processed"]
    assert (await create(client, obj["id"])).status == 200


async def test_processing_time_is_virtual(make_client: MakeClient) -> None:
    client = await make_client(azure={"file_processing_s": 30}, clock={"scale": 0})
    obj = await (await upload(client, jsonl([azure_row(0)]))).json()
    listed = await (await client.get("/openai/files" + V, headers=KEY)).json()
    assert listed["data"][0]["status"] == "pending"
    await client.post("/_emulator/clock", json={"advance": 30})
    got = await (await client.get(f"/openai/files/{obj['id']}{V}", headers=KEY)).json()
    assert got["status"] == "processed"


@pytest.mark.parametrize(
    "fields",
    [
        {"expires_after[anchor]": "created_at", "expires_after[seconds]": "1209600"},
        {"expires_after.anchor": "created_at", "expires_after.seconds": "1209600"},
    ],
)
async def test_expires_after_in_both_spellings(
    make_client: MakeClient, fields: dict[str, str]
) -> None:
    client = await make_client()
    obj = await (await upload(client, jsonl([azure_row(0)]), **fields)).json()
    assert obj["expires_at"] == obj["created_at"] + 1_209_600


async def test_expiry_below_fourteen_days_is_refused(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await upload(
        client,
        jsonl([azure_row(0)]),
        **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "3600"},
    )
    assert resp.status == 400
    assert "14 to 30 days" in (await resp.json())["error"]["message"]


async def test_files_without_expiry_are_limited(make_client: MakeClient) -> None:
    client = await make_client(azure={"max_files_without_expiry": 2, "max_files_with_expiry": 1})
    data = jsonl([azure_row(0)])
    assert [(await upload(client, data)).status for _ in range(2)] == [201, 201]
    over = await upload(client, data)
    assert over.status == 400
    assert await over.json() == {
        "error": {
            "code": "quotaExceeded",
            "message": "The quota for files without expiry is reached. The maximum is 2.",
        }
    }
    expiring = {"expires_after[anchor]": "created_at", "expires_after[seconds]": "1209600"}
    assert (await upload(client, data, **expiring)).status == 201
    assert (await upload(client, data, **expiring)).status == 400


async def test_batch_object_has_azure_shape(make_client: MakeClient) -> None:
    client = await make_client()
    obj = await (await upload(client, jsonl([azure_row(0)]))).json()
    batch = await (await create(client, obj["id"], metadata={"k": "v"})).json()
    assert batch["endpoint"] == "/chat/completions"
    assert batch["expires_at"] == batch["created_at"] + 86_400
    assert "model" not in batch and "usage" not in batch
    assert batch["metadata"] == {"k": "v"}


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"endpoint": "/v1/embeddings"}, "invalid_value"),
        ({"input_blob": "https://a.blob.core.windows.net/c/x.jsonl"}, "unknown_parameter"),
        ({"output_expires_after": {"anchor": "created_at", "seconds": 3600}}, "invalid_value"),
    ],
)
async def test_create_refusals(make_client: MakeClient, extra: dict[str, Any], code: str) -> None:
    client = await make_client()
    obj = await (await upload(client, jsonl([azure_row(0)]))).json()
    resp = await create(client, obj["id"], **extra)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == code


async def test_unknown_ids_use_azure_codes(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.get("/openai/batches/batch_nope" + V, headers=KEY)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "notFound"


async def test_fail_fast_token_limit_is_a_400_at_create(make_client: MakeClient) -> None:
    client = await make_client(
        azure={
            "token_limit_mode": "fail_fast",
            "deployments": [{"name": "gpt-4o-batch", "enqueued_token_limit": 10}],
        }
    )
    obj = await (await upload(client, jsonl([azure_row(i) for i in range(5)]))).json()
    resp = await create(client, obj["id"])
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "token_limit_exceeded"
    assert "configured limit of 10 for the deployment 'gpt-4o-batch'" in error["message"]
