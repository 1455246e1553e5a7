"""EmulatorBackend wiring: arguments, attach by url, close, and no SDK retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from pytest_aiohttp import AiohttpServer

from batchport.backends.emulator import EmulatorBackend
from batchport.backends.models import Job, JobStatus
from batchport.backends.openai import OpenAIBackend
from batchport.errors import ConfigError, NotFoundError, ServerError
from batchport_emulator.app import create_app

JOB = Job(id="batch_1", status=JobStatus.VALIDATING)


def test_url_and_config_are_exclusive() -> None:
    with pytest.raises(ConfigError, match="either url"):
        EmulatorBackend({"seed": 1}, url="http://127.0.0.1:1")


async def test_attaches_to_a_running_server_by_url(aiohttp_server: AiohttpServer) -> None:
    seen: list[tuple[str, str]] = []

    async def batch(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers["Authorization"]))
        if request.match_info["id"] != "batch_1":
            body = {"error": {"message": "No batch", "type": "invalid_request_error"}}
            return web.json_response(body, status=404)
        return web.json_response(
            {
                "id": "batch_1",
                "object": "batch",
                "endpoint": "/v1/embeddings",
                "input_file_id": "file-1",
                "completion_window": "24h",
                "status": "in_progress",
                "created_at": 1,
            }
        )

    app = web.Application()
    app.router.add_get("/v1/batches/{id}", batch)
    server = await aiohttp_server(app)
    url = str(server.make_url("/"))
    async with EmulatorBackend(url=url, api_key="sk-local") as backend:
        assert backend.emulator is None
        job = await backend.poll(JOB)
        assert job.status is JobStatus.IN_PROGRESS
        with pytest.raises(NotFoundError):
            await backend.poll(Job(id="batch_2", status=JobStatus.VALIDATING))
        assert "sk-local" not in repr(backend)
        assert url.rstrip("/") in repr(backend)
    assert seen[0] == ("/v1/batches/batch_1", "Bearer sk-local")
    # a url that already ends in /v1 is used as is
    async with EmulatorBackend(url=str(server.make_url("/v1"))) as backend:
        assert (await backend.poll(JOB)).id == "batch_1"


async def test_close_without_use_and_use_after_close() -> None:
    backend = EmulatorBackend()
    assert "not started" in repr(backend)
    with pytest.raises(ConfigError, match="not started"):
        backend.client  # noqa: B018
    await backend.aclose()
    await backend.aclose()
    with pytest.raises(ConfigError, match="closed"):
        await backend.poll(JOB)


async def test_starts_once_and_stops_on_close() -> None:
    backend = EmulatorBackend()
    assert await backend.start() is backend
    emulator = backend.emulator
    assert emulator is not None
    client = backend.client
    await backend.start()
    assert (backend.emulator, backend.client) == (emulator, client)
    assert client.max_retries == 0
    await backend.aclose()
    assert client.is_closed() and backend.emulator is None


@pytest.mark.parametrize(
    "make",
    [
        lambda url: EmulatorBackend(url=url),
        lambda url: OpenAIBackend(api_key="sk-x", base_url=url + "/v1"),
    ],
    ids=["emulator", "openai"],
)
async def test_one_failing_call_is_one_http_attempt(
    aiohttp_server: AiohttpServer, make: Callable[[str], Any]
) -> None:
    """SDK retries are off: the runner owns retries, on its injected clock."""
    attempts: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        attempts.append(f"{request.method} {request.path}")
        return await handler(request)

    app = create_app({"faults": {"api_error_rate": 1.0, "api_error_kinds": ["500"]}})
    app.middlewares.insert(0, count)
    server = await aiohttp_server(app)
    async with make(str(server.make_url("")).rstrip("/")) as backend:
        with pytest.raises(ServerError):
            await backend.poll(JOB)
    assert attempts == ["GET /v1/batches/batch_1"]
