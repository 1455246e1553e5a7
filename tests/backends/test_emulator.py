"""EmulatorBackend wiring that needs no embedded emulator: arguments, attach by url, close."""

from __future__ import annotations

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from batchport.backends.base import BatchStatus
from batchport.backends.emulator import EmulatorBackend
from batchport.errors import ConfigError, NotFoundError


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
    async with EmulatorBackend(url=url, api_key="sk-local", max_retries=0) as backend:
        assert backend.emulator is None
        job = await backend.retrieve_batch("batch_1")
        assert job.status is BatchStatus.IN_PROGRESS
        with pytest.raises(NotFoundError):
            await backend.retrieve_batch("batch_2")
        assert "sk-local" not in repr(backend)
        assert url.rstrip("/") in repr(backend)
    assert seen[0] == ("/v1/batches/batch_1", "Bearer sk-local")
    # a url that already ends in /v1 is used as is
    async with EmulatorBackend(url=str(server.make_url("/v1")), max_retries=0) as backend:
        assert (await backend.retrieve_batch("batch_1")).id == "batch_1"


async def test_close_without_use_and_use_after_close() -> None:
    backend = EmulatorBackend()
    assert "not started" in repr(backend)
    await backend.aclose()
    await backend.aclose()
    with pytest.raises(ConfigError, match="closed"):
        await backend.retrieve_batch("batch_1")
