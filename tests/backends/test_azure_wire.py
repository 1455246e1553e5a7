"""AzureBackend on the wire: paths, api-version, auth headers, waiting for ``processed``,
and secrets kept out of errors. A capture server or an httpx2 MockTransport answers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import orjson
import pytest
from aiohttp import web
from azure.core.credentials import AccessToken
from openai import AsyncAzureOpenAI
from pytest_aiohttp import AiohttpServer

from batchport.backends.azure import ENTRA_SCOPE, AzureBackend
from batchport.backends.models import Job, JobStatus
from batchport.errors import AuthenticationError, BackendError, QuotaExceededError

from .conformance import DictCheckpoint, bytes_spec

JOB = Job(id="batch_1", status=JobStatus.VALIDATING)
KEY = "azk-FAKE-0123456789abcdef"
TOKEN = "eyFAKE.entra-token.abcdef0123456789"


def file_obj(status: str = "processed", **over: Any) -> dict[str, Any]:
    obj = {
        "id": "file-1",
        "object": "file",
        "bytes": 10,
        "created_at": 1,
        "filename": "in.jsonl",
        "purpose": "batch",
        "status": status,
        "expires_at": None,
        "status_details": None,
    }
    obj.update(over)
    return obj


def batch_obj(endpoint: str) -> dict[str, Any]:
    return {
        "id": "batch_1",
        "object": "batch",
        "endpoint": endpoint,
        "input_file_id": "file-1",
        "completion_window": "24h",
        "status": "validating",
        "created_at": 1,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
    }


class Capture:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": body,
            }
        )
        if request.path.endswith("/files") and request.method == "POST":
            return web.json_response(file_obj("pending"), status=201)
        if "/files/" in request.path:
            return web.json_response(file_obj())
        sent = orjson.loads(body) if body else {}
        return web.json_response(batch_obj(sent.get("endpoint", "")))


@pytest.fixture
async def capture(aiohttp_server: AiohttpServer) -> tuple[Capture, str]:
    cap = Capture()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", cap.handle)
    server = await aiohttp_server(app)
    return cap, str(server.make_url("")).rstrip("/")


class Cred:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **kw: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)

    async def close(self) -> None:
        pass


async def _submit(be: AzureBackend) -> None:
    checkpoint = DictCheckpoint()
    job = await be.submit(bytes_spec(), checkpoint)
    assert job.id == "batch_1"
    assert checkpoint["file_id"] == "file-1"


async def test_classic_api_key_wire(capture: tuple[Capture, str]) -> None:
    cap, url = capture
    async with AzureBackend(endpoint=url, api_key=KEY) as be:
        await _submit(be)
    paths = [(s["method"], s["path"]) for s in cap.seen]
    assert paths == [
        ("POST", "/openai/files"),
        ("GET", "/openai/files/file-1"),
        ("POST", "/openai/batches"),
    ]
    for s in cap.seen:
        assert s["query"]["api-version"] == "2024-10-21"
        assert s["headers"]["api-key"] == KEY
        assert "Authorization" not in s["headers"]
    assert orjson.loads(cap.seen[-1]["body"])["endpoint"] == "/chat/completions"


async def test_v1_with_entra_credential_wire(capture: tuple[Capture, str]) -> None:
    cap, url = capture
    cred = Cred()
    async with AzureBackend(endpoint=url, credential=cred, use_v1=True) as be:  # type: ignore[arg-type]
        await _submit(be)
        assert TOKEN not in repr(be)
    assert [s["path"] for s in cap.seen] == [
        "/openai/v1/files",
        "/openai/v1/files/file-1",
        "/openai/v1/batches",
    ]
    for s in cap.seen:
        assert "api-version" not in s["query"]
        assert s["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert "api-key" not in s["headers"]
    assert orjson.loads(cap.seen[-1]["body"])["endpoint"] == "/v1/chat/completions"
    assert cred.scopes == [ENTRA_SCOPE]  # fetched once, cached by azure-identity


async def test_classic_entra_sends_bearer(capture: tuple[Capture, str]) -> None:
    cap, url = capture
    async with AzureBackend(endpoint=url, credential=Cred()) as be:  # type: ignore[arg-type]
        await be.poll(JOB)
    assert cap.seen[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert cap.seen[0]["query"]["api-version"] == "2024-10-21"


# -- waiting for processed, over a MockTransport ------------------------------------------

Handler = Callable[[httpx2.Request], httpx2.Response]


@pytest.fixture
async def mock_backend() -> AsyncIterator[Callable[..., tuple[AzureBackend, list[float]]]]:
    made: list[AzureBackend] = []

    def make(handler: Handler, **kw: Any) -> tuple[AzureBackend, list[float]]:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        client = AsyncAzureOpenAI(
            azure_endpoint="http://mock.test",
            api_version="2024-10-21",
            api_key=KEY,
            max_retries=0,
            http_client=http,
        )
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        be = AzureBackend(client, sleep=sleep, **kw)
        made.append(be)
        return be, slept

    yield make
    for be in made:
        await be.aclose()
        await be.client.close()


def statuses(*seq: str) -> Handler:
    it = iter(seq)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=file_obj(next(it)))

    return handler


async def test_wait_polls_with_bounded_backoff(mock_backend: Any) -> None:
    be, slept = mock_backend(statuses("pending", "pending", "running", "processed"))
    ref = await be.wait_processed("file-1")
    assert ref.status == "processed"
    assert slept == [1.0, 2.0, 4.0]


async def test_error_status_is_a_clear_backend_error(mock_backend: Any) -> None:
    replies = iter([file_obj("pending"), file_obj("error", status_details="bad line 3")])
    be, _ = mock_backend(lambda r: httpx2.Response(200, json=next(replies)))
    with pytest.raises(BackendError, match=r"could not be processed.*bad line 3") as info:
        await be.wait_processed("file-1")
    assert info.value.code == "file_not_processed"


async def test_waiting_is_bounded(mock_backend: Any) -> None:
    be, slept = mock_backend(
        lambda r: httpx2.Response(200, json=file_obj("pending")),
        file_processed_timeout_s=10.0,
        file_poll_max_s=4.0,
    )
    with pytest.raises(BackendError, match="still 'pending' after 10s"):
        await be.wait_processed("file-1")
    assert slept == [1.0, 2.0, 4.0, 3.0]
    assert sum(slept) == 10.0


async def test_create_on_a_pending_file_waits_then_retries_once(mock_backend: Any) -> None:
    calls: list[str] = []
    pending_400 = {
        "error": {
            "code": "invalidPayload",
            "message": "The input file 'file-1' is in 'pending' state. Only files with status "
            "'Processed' are accepted for batch inferencing.",
        }
    }

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.method == "POST" and calls.count("POST /openai/batches") == 1:
            return httpx2.Response(400, json=pending_400)
        if request.method == "GET":
            return httpx2.Response(200, json=file_obj("processed"))
        return httpx2.Response(200, json=batch_obj("/chat/completions"))

    be, _ = mock_backend(handler)
    job = await be.create_batch(bytes_spec(endpoint="/v1/chat/completions"), "file-1")
    assert job.raw["endpoint"] == "/chat/completions"
    assert calls == ["POST /openai/batches", "GET /openai/files/file-1", "POST /openai/batches"]


async def test_fail_fast_token_limit_is_a_requeue_signal(mock_backend: Any) -> None:
    body = {"error": {"code": "token_limit_exceeded", "message": "Enqueued tokens over limit."}}
    headers = {"retry-after": "30"}
    be, _ = mock_backend(lambda r: httpx2.Response(400, json=body, headers=headers))
    with pytest.raises(QuotaExceededError) as info:
        await be.create_batch(bytes_spec(), "file-1")
    assert info.value.retryable
    checkpoint = DictCheckpoint(file_id="file-1")
    job = await be.submit(bytes_spec(), checkpoint)
    assert (job.id, job.status, job.requeue) == (
        "",
        JobStatus.FAILED,
        "Enqueued tokens over limit.",
    )
    assert job.retry_after == 30.0
    assert checkpoint == {"file_id": "file-1"}  # the upload stays for the next submit


@pytest.mark.parametrize(
    ("status", "expected"),
    [("canceling", JobStatus.CANCELLING), ("canceled", JobStatus.CANCELLED)],
)
async def test_azure_spellings_are_in_its_status_map(
    mock_backend: Any, status: str, expected: JobStatus
) -> None:
    obj = {**batch_obj("/chat/completions"), "status": status}
    be, _ = mock_backend(lambda r: httpx2.Response(200, json=obj))
    assert (await be.poll(JOB)).status is expected


async def test_echoed_key_never_reaches_errors(mock_backend: Any) -> None:
    body = {"error": {"code": "401", "message": f"Access denied for key {KEY}."}}
    be, _ = mock_backend(lambda r: httpx2.Response(401, json=body))
    with pytest.raises(AuthenticationError) as info:
        await be.poll(JOB)
    text = f"{info.value} {info.value!r} {info.value.payload} {info.value.__cause__}"
    assert KEY not in text


async def test_echoed_entra_token_never_reaches_errors(aiohttp_server: AiohttpServer) -> None:
    async def echo(request: web.Request) -> web.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        return web.json_response(
            {"error": {"code": "401", "message": f"{token} expired"}}, status=401
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = await aiohttp_server(app)
    url = str(server.make_url("")).rstrip("/")
    async with AzureBackend(endpoint=url, credential=Cred()) as be:  # type: ignore[arg-type]
        with pytest.raises(AuthenticationError) as info:
            await be.poll(JOB)
    text = f"{info.value} {info.value!r} {info.value.payload} {info.value.__cause__}"
    assert "expired" in text and TOKEN not in text
