"""OpenAIBackend against the real SDK over an httpx2 MockTransport (and one loopback server)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import orjson
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from batchport.backends.models import Job, JobStatus, RequestCounts, ShardSpec, Usage
from batchport.backends.openai import OpenAIBackend
from batchport.errors import InputError, ServerError

from .conformance import bytes_spec

Handler = Callable[[httpx2.Request], httpx2.Response]
JOB = Job(id="batch_1", status=JobStatus.VALIDATING)


def batch(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "batch_1",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": None,
        "input_file_id": "file-in",
        "completion_window": "24h",
        "status": "completed",
        "output_file_id": "file-out",
        "error_file_id": "",
        "created_at": 1748626733,
        "in_progress_at": 1748626734,
        "expires_at": 1748713133,
        "finalizing_at": 1748626798,
        "completed_at": 1748626799,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 2, "completed": 2, "failed": 0},
        "metadata": {"run": "r1"},
        "model": "gpt-4o-mini-2024-07-18",
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 6,
            "output_tokens_details": {"reasoning_tokens": 1},
            "total_tokens": 16,
        },
    }
    obj.update(over)
    return obj


FILE = {
    "id": "file-abc",
    "object": "file",
    "bytes": 42,
    "created_at": 1,
    "filename": "in.jsonl",
    "purpose": "batch",
    "status": "processed",
    "expires_at": 2592001,
    "status_details": None,
}


async def test_batch_is_normalized_and_raw_kept(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    backend = make_backend(lambda r: httpx2.Response(200, json=batch()))
    job = await backend.poll(JOB)
    assert job.status is JobStatus.COMPLETED
    assert job.refs == {"output": "file-out"}  # "" means no file
    assert job.counts == RequestCounts(2, 2, 0)
    assert job.usage == Usage(10, 6, 4, 1)
    assert job.metadata == {"run": "r1"}
    assert (job.created_at, job.expires_at) == (1748626733.0, 1748713133.0)
    assert job.requeue is None
    assert job.raw["id"] == "batch_1"
    assert job.raw["completed_at"] == 1748626799
    assert job.raw["completion_window"] == "24h"


async def test_failed_batch_keeps_line_numbered_errors_and_quota_is_a_requeue(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    errors = {
        "object": "list",
        "data": [
            {"code": "invalid_url", "message": "bad url", "param": "url", "line": 2},
            {"code": "token_limit_exceeded", "message": "full", "param": None, "line": None},
        ],
    }
    body = batch(status="failed", errors=errors, output_file_id=None, usage=None)
    backend = make_backend(lambda r: httpx2.Response(200, json=body))
    job = await backend.poll(JOB)
    assert job.status is JobStatus.FAILED
    assert job.refs == {}
    assert job.usage is None
    assert [(e.code, e.line, e.param) for e in job.errors] == [
        ("invalid_url", 2, "url"),
        ("token_limit_exceeded", None, None),
    ]
    assert job.requeue == "full"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("cancelling", JobStatus.CANCELLING),
        ("Cancelled", JobStatus.CANCELLED),
        ("canceled", JobStatus.UNKNOWN),  # Azure's spelling: in Azure's map, not OpenAI's
        ("paused", JobStatus.UNKNOWN),
        (None, JobStatus.UNKNOWN),
    ],
)
async def test_status_map(
    make_backend: Callable[[Handler], OpenAIBackend], status: str | None, expected: JobStatus
) -> None:
    backend = make_backend(lambda r: httpx2.Response(200, json=batch(status=status)))
    assert (await backend.poll(JOB)).status is expected


async def test_create_sends_tags_as_metadata_and_the_window(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(orjson.loads(request.content))
        return httpx2.Response(200, json=batch(status="validating"))

    backend = make_backend(handler)
    spec = bytes_spec(endpoint="/v1/responses", tags={"k": "v"})
    job = await backend.create_batch(spec, "file-in")
    assert job.status is JobStatus.VALIDATING
    assert seen == [
        {
            "input_file_id": "file-in",
            "endpoint": "/v1/responses",
            "completion_window": "24h",
            "metadata": {"k": "v"},
        }
    ]


async def test_list_paginates_and_filters_metadata_client_side(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    pages = {
        None: ["b5", "b4"],
        "b4": ["b3", "b2"],
        "b2": ["b1"],
    }
    queries: list[dict[str, str]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        params = dict(request.url.params)
        queries.append(params)
        ids = pages[params.get("after")]
        data = [batch(id=i, metadata={"run": "x" if i in ("b4", "b1") else "y"}) for i in ids]
        body = {"object": "list", "data": data, "has_more": ids[-1] != "b1"}
        return httpx2.Response(200, json=body)

    backend = make_backend(handler)
    all_ids = [j.id async for j in backend.list_batches(page_size=2)]
    assert all_ids == ["b5", "b4", "b3", "b2", "b1"]
    assert queries[:3] == [
        {"limit": "2"},
        {"limit": "2", "after": "b4"},
        {"limit": "2", "after": "b2"},
    ]
    picked = [j.id async for j in backend.list_batches(metadata={"run": "x"}, page_size=2)]
    assert picked == ["b4", "b1"]


async def test_stream_file_yields_bounded_chunks(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    payload = bytes(range(256)) * 1000  # 256 kB

    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/files/file-out/content"
        return httpx2.Response(200, content=payload)

    backend = make_backend(handler)
    backend.stream_chunk_size = 10_000  # type: ignore[misc]
    chunks = [c async for c in backend.stream_file("file-out")]
    assert b"".join(chunks) == payload
    assert len(chunks) > 1
    assert max(map(len, chunks)) <= 10_000


async def test_upload_sends_multipart_with_name_purpose_and_expiry(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    bodies: list[bytes] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(request.content)
        return httpx2.Response(200, json=FILE)

    backend = make_backend(handler)
    spec = bytes_spec(run_id="run-1", shard_id="shard-1", file_expires_after_s=3600)
    ref = await backend.upload_file(spec)
    assert (ref.id, ref.bytes, ref.purpose, ref.status) == ("file-abc", 42, "batch", "processed")
    assert ref.raw == FILE
    body = bodies[0]
    assert b'filename="run-1.shard-1.jsonl"' in body
    assert b"Content-Type: application/jsonl" in body
    assert b'name="purpose"\r\n\r\nbatch' in body
    assert b'name="expires_after[seconds]"\r\n\r\n3600' in body
    assert b'{"custom_id":"a"}\n' in body


async def test_upload_of_missing_file_is_input_error(
    make_backend: Callable[[Handler], OpenAIBackend], tmp_path: Path
) -> None:
    backend = make_backend(lambda r: httpx2.Response(200, json=FILE))
    missing = tmp_path / "nope.jsonl"
    spec = ShardSpec(
        "run", "s1", "/v1/embeddings", None, 1, 1, "h", open=lambda: missing.open("rb")
    )
    with pytest.raises(InputError) as info:
        await backend.upload_file(spec)
    assert info.value.rule == "file_not_readable"
    assert "run.s1.jsonl" in str(info.value)


async def test_delete_and_retrieve_file(make_backend: Callable[[Handler], OpenAIBackend]) -> None:
    calls: list[tuple[str, str]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append((request.method, request.url.path))
        if request.method == "DELETE":
            return httpx2.Response(200, json={"id": "file-abc", "object": "file", "deleted": True})
        return httpx2.Response(200, json=FILE)

    backend = make_backend(handler)
    await backend.delete_file("file-abc")
    assert (await backend.retrieve_file("file-abc")).filename == "in.jsonl"
    assert calls == [("DELETE", "/v1/files/file-abc"), ("GET", "/v1/files/file-abc")]


async def test_closes_only_the_client_it_created(monkeypatch: pytest.MonkeyPatch) -> None:
    injected = openai.AsyncOpenAI(api_key="sk-x", base_url="http://mock.test/v1")
    backend = OpenAIBackend(injected)
    await backend.aclose()
    assert not injected.is_closed()
    await injected.close()

    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.test/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-1")
    async with OpenAIBackend(timeout=12.5) as owned:
        client = owned.client
        assert client.api_key == "sk-from-env"
        assert str(client.base_url) == "http://env.test/v1/"
        assert (client.organization, client.project) == ("org-1", "proj-1")
        assert client.max_retries == 0  # the runner retries, on its injected clock
        assert client.timeout == 12.5
        assert "sk-from-env" not in repr(owned)
    assert client.is_closed()
    await owned.aclose()  # twice is fine


async def test_upload_streams_from_disk(aiohttp_server: AiohttpServer, tmp_path: Path) -> None:
    """A real loopback upload of 8 MB never holds the file: peak traced memory stays far
    below the file size (a Path handed to the SDK would be read whole, ~3x the size)."""
    received: list[int] = []

    async def files(request: web.Request) -> web.Response:
        n = 0
        async for chunk in request.content.iter_chunked(1 << 16):
            n += len(chunk)
        received.append(n)
        return web.json_response(FILE)

    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/v1/files", files)
    server = await aiohttp_server(app)
    path = tmp_path / "big.jsonl"
    size = 8 * 1024 * 1024
    with path.open("wb") as fh:
        line = b'{"custom_id":"x","method":"POST","url":"/v1/embeddings","body":{}}\n'
        fh.write(line * (size // len(line)))
    spec = ShardSpec(
        "big", "s1", "/v1/embeddings", None, 1, size, "h", open=lambda: path.open("rb")
    )
    async with OpenAIBackend(api_key="sk-x", base_url=str(server.make_url("/v1"))) as backend:
        tracemalloc.start()
        try:
            await backend.upload_file(spec)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert received[0] > path.stat().st_size  # the whole file went over the wire
    assert peak < size / 4, f"peak {peak} bytes while uploading {size} bytes"


@pytest.mark.parametrize("call", ["create", "poll"])
async def test_an_injected_client_never_retries(call: str) -> None:
    """A 500 on create may hide a batch that was created, and every retry belongs to
    the runner: even a client built to retry is used without retries."""
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.path)
        return httpx2.Response(500, json={"error": {"message": "boom", "type": "server_error"}})

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    client = openai.AsyncOpenAI(
        api_key="sk-x", base_url="http://mock.test/v1", max_retries=2, http_client=http
    )
    try:
        backend = OpenAIBackend(client)
        assert backend.client.max_retries == 0
        calls_once: dict[str, Callable[[], Awaitable[Job]]] = {
            "create": lambda: backend.create_batch(bytes_spec(), "file-1"),
            "poll": lambda: backend.poll(JOB),
        }
        with pytest.raises(ServerError):
            await calls_once[call]()
        assert len(calls) == 1
    finally:
        await client.close()
