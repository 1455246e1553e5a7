"""Control endpoints, realtime endpoints, API faults and junk requests over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from emu_jsonl import chat_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_http_api import AUTH, MakeClient, run_batch, upload

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def test_config_get_patch_and_validation(make_client: MakeClient) -> None:
    client = await make_client(api_keys=["sk-test"])
    key = {"Authorization": "Bearer sk-test"}  # with an API key the control plane needs it
    config = await (await client.get("/_emulator/config", headers=key)).json()
    assert config["progression"] == {"kind": "immediate"}
    assert "sk-test" not in str(config)
    patch = {"faults": {"row_failure_rate": 1}}
    resp = await client.patch("/_emulator/config", json=patch, headers=key)
    assert resp.status == 200
    assert (await resp.json())["faults"]["row_failure_rate"] == 1
    for bad in ({"faults": {"row_failure_rate": 2}}, {"nope": 1}, [1]):
        resp = await client.patch("/_emulator/config", json=bad, headers=key)
        assert resp.status == 400
        assert "error" in await resp.json()
    # the failed patches changed nothing; the good one is in force for new batches
    batch = await run_batch(
        client,
        chat_file(2),
    )
    assert batch["request_counts"]["failed"] == 2


async def test_clock_endpoints(make_client: MakeClient) -> None:
    client = await make_client(clock={"scale": 0})
    before = await (await client.get("/_emulator/clock")).json()
    assert before["scale"] == 0
    after = await (await client.post("/_emulator/clock", json={"advance": 3600})).json()
    assert after["now"] == pytest.approx(before["now"] + 3600)
    moved = await (await client.post("/_emulator/clock", json={"set": 2e9, "scale": 5})).json()
    assert moved["scale"] == 5
    assert moved["now"] >= 2e9
    assert (await (await client.get("/_emulator/config")).json())["clock"]["scale"] == 5
    for bad in ({}, {"advance": -1}, {"advance": "x"}, {"scale": float("nan")}, [1]):
        resp = await client.post("/_emulator/clock", json=bad if bad == bad else None)
        assert resp.status == 400


async def test_expiry_through_the_clock_endpoint(make_client: MakeClient) -> None:
    client = await make_client(faults={"expire_rate": 1.0, "expire_progress": 0.5})
    file_id = (await (await upload(client, chat_file(4))).json())["id"]
    created = await (
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
    batch = created
    for _ in range(100):
        batch = await (await client.get(f"/v1/batches/{created['id']}", headers=AUTH)).json()
        if batch["request_counts"]["completed"] == 2:
            break
        await asyncio.sleep(0.01)
    assert batch["status"] == "in_progress"
    await client.post("/_emulator/clock", json={"advance": 86_400})
    for _ in range(100):
        batch = await (await client.get(f"/v1/batches/{created['id']}", headers=AUTH)).json()
        if batch["status"] == "expired":
            break
        await asyncio.sleep(0.01)
    assert batch["status"] == "expired"
    assert batch["expired_at"] is not None
    assert batch["request_counts"] == {"total": 4, "completed": 2, "failed": 0}


async def test_reset_and_batch_listing(make_client: MakeClient) -> None:
    client = await make_client()
    batch = await run_batch(client, chat_file(2), metadata={"run": "1"})
    listing = await (await client.get("/_emulator/batches")).json()
    assert listing["count"] == 1
    assert listing["object"] == "list"
    (item,) = listing["data"]
    assert item["id"] == batch["id"]
    assert item["metadata"] == {"run": "1"}
    assert item["request_counts"]["completed"] == 2
    assert (await client.post("/_emulator/reset")).status == 200
    assert (await (await client.get("/_emulator/batches")).json())["count"] == 0
    assert (await client.get(f"/v1/batches/{batch['id']}", headers=AUTH)).status == 404


@pytest.mark.parametrize(
    ("path", "body", "object_name"),
    [
        ("/v1/chat/completions", CHAT, "chat.completion"),
        ("/v1/responses", {"model": "gpt-4o-mini", "input": "hi"}, "response"),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}, "list"),
    ],
)
async def test_realtime_endpoints(
    make_client: MakeClient, path: str, body: dict[str, Any], object_name: str
) -> None:
    client = await make_client(realtime={"rpm": 100})
    resp = await client.post(path, json=body, headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["object"] == object_name
    assert resp.headers["x-ratelimit-limit-requests"] == "100"
    assert resp.headers["x-ratelimit-remaining-requests"] == "99"


async def test_realtime_rate_limit_429(make_client: MakeClient) -> None:
    client = await make_client(realtime={"rpm": 2}, clock={"scale": 0})
    statuses = [
        (await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)) for _ in range(3)
    ]
    assert [r.status for r in statuses] == [200, 200, 429]
    refused = statuses[-1]
    error = (await refused.json())["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["type"] == "requests"
    assert int(refused.headers["retry-after"]) >= 1
    assert "retry-after-ms" in refused.headers
    await client.post("/_emulator/clock", json={"advance": 60})
    assert (await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)).status == 200


async def test_realtime_tpm_limit(make_client: MakeClient) -> None:
    client = await make_client(realtime={"tpm": 100}, clock={"scale": 0})
    resp = await client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 500}, headers=AUTH)
    assert resp.status == 429
    assert (await resp.json())["error"]["type"] == "tokens"


async def test_realtime_latency_follows_the_clock_scale(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The latency is a real sleep of (virtual latency / clock scale): record the sleeps the
    # server asks for instead of timing them.
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float, result: Any = None) -> Any:
        if delay > 0:
            slept.append(delay)
        return await real_sleep(0, result)

    slow = await make_client(realtime={"latency_base_s": 0.3}, clock={"scale": 1})
    fast = await make_client(realtime={"latency_base_s": 30}, clock={"scale": 1000})
    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    assert (await slow.post("/v1/chat/completions", json=CHAT, headers=AUTH)).status == 200
    assert slept == [pytest.approx(0.3)]  # 0.3 virtual s at scale 1
    slept.clear()
    assert (await fast.post("/v1/chat/completions", json=CHAT, headers=AUTH)).status == 200
    assert slept == [pytest.approx(0.03)]  # 30 virtual s at scale 1000


async def test_realtime_junk(make_client: MakeClient) -> None:
    client = await make_client()
    for data in (b"", b"[]", b"{", b'"x"'):
        resp = await client.post("/v1/chat/completions", data=data, headers=AUTH)
        assert resp.status == 400
    resp = await client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH)
    assert resp.status == 400


async def test_api_faults(make_client: MakeClient) -> None:
    client = await make_client(
        faults={"api_error_rate": 1.0, "api_error_kinds": ["429"], "api_retry_after_ms": 25}
    )
    resp = await client.get("/v1/batches", headers=AUTH)
    assert resp.status == 429
    assert resp.headers["retry-after-ms"] == "25"
    assert (await client.get("/_emulator/config")).status == 200  # control is exempt
    await client.patch("/_emulator/config", json={"faults": {"api_error_kinds": ["500"]}})
    resp = await client.get("/v1/batches", headers=AUTH)
    assert resp.status == 500
    assert (await resp.json())["error"]["type"] == "server_error"
    await client.patch("/_emulator/config", json={"faults": {"api_error_kinds": ["drop"]}})
    with pytest.raises(aiohttp.ClientError):
        await client.get("/v1/batches", headers=AUTH)
    await client.patch("/_emulator/config", json={"faults": {"api_error_rate": 0}})
    assert (await client.get("/v1/batches", headers=AUTH)).status == 200


async def test_api_faults_hit_a_seeded_fraction(make_client: MakeClient) -> None:
    async def pattern() -> list[int]:
        client = await make_client(
            seed=4, faults={"api_error_rate": 0.5, "api_error_kinds": ["500"]}
        )
        return [(await client.get("/v1/batches", headers=AUTH)).status for _ in range(40)]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 5 < first.count(500) < 35


PATHS = [
    "/v1/files",
    "/v1/batches",
    "/v1/batches/x/cancel",
    "/v1/files/x",
    "/v1/files/x/content",
    "/v1/chat/completions",
    "/_emulator/config",
    "/_emulator/clock",
    "/v1/%00",
    "/v1/batches?limit=%ff",
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PATCH", "PUT"]),
    path=st.sampled_from(PATHS),
    body=st.binary(max_size=200),
    content_type=st.sampled_from(
        ["application/json", "multipart/form-data; boundary=x", "multipart/form-data", "text/plain"]
    ),
)
def test_junk_requests_never_500(
    make_client: MakeClient, method: str, path: str, body: bytes, content_type: str
) -> None:
    async def go() -> None:
        client = await make_client()
        resp = await client.request(
            method, path, data=body, headers={**AUTH, "Content-Type": content_type}
        )
        assert resp.status < 500, (resp.status, await resp.text())
        assert "x-request-id" in resp.headers

    loop = asyncio.get_event_loop()
    loop.run_until_complete(go())
