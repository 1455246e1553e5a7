"""The aiohttp receiver through aiohttp's test client, on an injected clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from batchport.webhooks import BatchEvent, make_app

from .wh_signing import NOW, OTHER_SECRET, SECRET, gemini_event, openai_event, signed_headers

Client = Any


def _app(on_event: Callable[[BatchEvent], Any], **kwargs: Any) -> web.Application:
    return make_app(SECRET, on_event, clock=lambda: NOW, **kwargs)


async def _next(queue: asyncio.Queue[BatchEvent]) -> BatchEvent:
    return await asyncio.wait_for(queue.get(), timeout=10)


async def test_a_batch_event_reaches_the_callback(aiohttp_client: Any) -> None:
    seen: asyncio.Queue[BatchEvent] = asyncio.Queue()
    client = await aiohttp_client(_app(seen.put_nowait))
    body = gemini_event(user_metadata={"run": "r1"})
    response = await client.post("/webhooks", data=body, headers=signed_headers(body))
    assert response.status == 200
    event = await _next(seen)
    assert (event.provider, event.type, event.batch_id) == ("gemini", "completed", "batches/xyz")
    assert (event.event_id, event.received_at, event.user_metadata) == ("msg_1", NOW, {"run": "r1"})


async def test_the_answer_does_not_wait_for_an_async_callback(aiohttp_client: Any) -> None:
    release = asyncio.Event()
    started: asyncio.Queue[BatchEvent] = asyncio.Queue()
    finished: list[str] = []

    async def slow(event: BatchEvent) -> None:
        started.put_nowait(event)
        await release.wait()
        finished.append(event.batch_id)

    client = await aiohttp_client(_app(slow))
    body = openai_event()
    response = await client.post("/webhooks", data=body, headers=signed_headers(body))
    assert response.status == 200
    assert (await _next(started)).batch_id == "batch_abc"
    assert finished == []
    release.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert finished == ["batch_abc"]


async def test_callbacks_still_running_at_shutdown_are_cancelled(aiohttp_client: Any) -> None:
    started: asyncio.Queue[BatchEvent] = asyncio.Queue()
    cancelled: list[bool] = []

    async def forever(event: BatchEvent) -> None:
        started.put_nowait(event)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    client = await aiohttp_client(_app(forever))
    body = openai_event()
    await client.post("/webhooks", data=body, headers=signed_headers(body))
    await _next(started)
    await client.close()
    assert cancelled == [True]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(signed_headers(openai_event(), secret=OTHER_SECRET), id="wrong-secret"),
        pytest.param(signed_headers(openai_event(), timestamp=NOW - 301), id="stale"),
        pytest.param(signed_headers(openai_event(), timestamp=NOW + 301), id="future"),
        pytest.param({}, id="no-headers"),
    ],
)
async def test_forged_or_stale_deliveries_get_a_bare_400(
    aiohttp_client: Any, headers: dict[str, str]
) -> None:
    calls: list[BatchEvent] = []
    client = await aiohttp_client(_app(calls.append))
    response = await client.post("/webhooks", data=openai_event(), headers=headers)
    assert response.status == 400
    assert await response.text() == "invalid webhook"
    assert calls == []


async def test_a_tampered_body_gets_400(aiohttp_client: Any) -> None:
    calls: list[BatchEvent] = []
    client = await aiohttp_client(_app(calls.append))
    headers = signed_headers(openai_event())
    response = await client.post(
        "/webhooks", data=openai_event(batch_id="batch_x"), headers=headers
    )
    assert response.status == 400
    assert calls == []


async def test_a_replay_gets_200_and_no_second_callback(aiohttp_client: Any) -> None:
    seen: asyncio.Queue[BatchEvent] = asyncio.Queue()
    client = await aiohttp_client(_app(seen.put_nowait))
    body = openai_event()
    for _ in range(3):
        response = await client.post("/webhooks", data=body, headers=signed_headers(body))
        assert response.status == 200
    await _next(seen)
    for _ in range(10):
        await asyncio.sleep(0)
    assert seen.empty()


async def test_a_signed_body_that_is_not_json_gets_400(aiohttp_client: Any) -> None:
    calls: list[BatchEvent] = []
    client = await aiohttp_client(_app(calls.append))
    body = b'{"type": "batch.completed", "data": '
    response = await client.post("/webhooks", data=body, headers=signed_headers(body))
    assert response.status == 400
    assert calls == []


async def test_an_unknown_event_type_gets_200_and_no_callback(aiohttp_client: Any) -> None:
    calls: list[BatchEvent] = []
    client = await aiohttp_client(_app(calls.append))
    body = b'{"type": "response.completed", "data": {"id": "resp_1"}}'
    response = await client.post("/webhooks", data=body, headers=signed_headers(body))
    assert response.status == 200
    for _ in range(10):
        await asyncio.sleep(0)
    assert calls == []


async def test_an_oversize_body_gets_413(aiohttp_client: Any) -> None:
    calls: list[BatchEvent] = []
    client = await aiohttp_client(_app(calls.append, max_body=200))
    body = openai_event(batch_id="batch_" + "x" * 300)
    response = await client.post("/webhooks", data=body, headers=signed_headers(body))
    assert response.status == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(body), 50):
            yield body[start : start + 50]

    response = await client.post("/webhooks", data=chunks(), headers=signed_headers(body))
    assert response.status == 413
    assert calls == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_other_methods_get_405(aiohttp_client: Any, method: str) -> None:
    client = await aiohttp_client(_app(lambda event: None))
    response = await client.request(method, "/webhooks")
    assert response.status == 405


async def test_a_custom_path_and_a_mounted_subapp(aiohttp_client: Any) -> None:
    seen: asyncio.Queue[BatchEvent] = asyncio.Queue()
    outer = web.Application()
    outer.add_subapp("/hooks", _app(seen.put_nowait, path="/batch"))
    client = await aiohttp_client(outer)
    body = openai_event()
    response = await client.post("/hooks/batch", data=body, headers=signed_headers(body))
    assert response.status == 200
    assert (await _next(seen)).batch_id == "batch_abc"


async def test_no_secret_or_signature_reaches_the_logs(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    done: asyncio.Queue[str] = asyncio.Queue()

    def failing(event: BatchEvent) -> None:
        done.put_nowait(event.batch_id)
        raise RuntimeError("the callback broke")

    client = await aiohttp_client(_app(failing))
    body = openai_event()
    good = signed_headers(body)
    forged = signed_headers(body, event_id="msg_2", secret=OTHER_SECRET)
    stale = signed_headers(body, event_id="msg_3", timestamp=NOW - 1000)
    bad_json = signed_headers(b"{", event_id="msg_4")
    for data, headers in [
        (body, good),
        (body, good),
        (body, forged),
        (body, stale),
        (b"{", bad_json),
    ]:
        await client.post("/webhooks", data=data, headers=headers)
    assert await asyncio.wait_for(done.get(), timeout=10) == "batch_abc"
    for _ in range(10):
        await asyncio.sleep(0)
    logged = caplog.text
    assert "the callback broke" in logged  # a failing callback is logged, not lost
    assert "refused" in logged
    key = SECRET.removeprefix("whsec_")
    for secret in (SECRET, key, OTHER_SECRET.removeprefix("whsec_")):
        assert secret not in logged
    for headers in (good, forged, stale, bad_json):
        assert headers["webhook-signature"].removeprefix("v1,") not in logged
