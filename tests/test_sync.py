"""The sync facade: Portal, run_sync and SyncBackend over a real OpenAIBackend."""

from __future__ import annotations

import asyncio
import gc
import io
import threading
from collections.abc import AsyncIterator

import httpx2
import openai
import pytest

from batchport.backends.memory import DictCheckpoint
from batchport.backends.models import Job, JobStatus, Outcome, ShardSpec
from batchport.backends.openai import OpenAIBackend
from batchport.errors import NotFoundError
from batchport.sync import Portal, SyncBackend, run_sync


async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def test_portal_runs_coroutines_on_its_own_thread() -> None:
    with Portal() as portal:
        assert portal.call(_double, 21) == 42

        async def where() -> str:
            return threading.current_thread().name

        assert portal.call(where) == "batchport-portal"
    assert portal.closed
    with pytest.raises(RuntimeError, match="closed"):
        portal.call(_double, 1)


def test_portal_iterates_and_closes_async_generators() -> None:
    closed: list[bool] = []

    async def gen() -> AsyncIterator[int]:
        try:
            for i in range(10):
                yield i
        finally:
            closed.append(True)

    with Portal() as portal:
        assert list(portal.iterate(gen())) == list(range(10))
        it = portal.iterate(gen())
        assert [next(it), next(it)] == [0, 1]
        it.close()  # stopping early closes the async generator on the loop
        assert closed == [True, True]


def test_portal_propagates_exceptions() -> None:
    async def boom() -> None:
        raise KeyError("x")

    with Portal() as portal, pytest.raises(KeyError):
        portal.call(boom)


def test_unclosed_portal_is_stopped_by_gc() -> None:
    portal = Portal()
    thread = portal._thread
    assert portal.call(_double, 1) == 2
    del portal
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_run_sync_without_and_with_a_running_loop() -> None:
    assert run_sync(_double, 4) == 8

    async def inside_a_loop() -> int:
        return run_sync(_double, 5)  # e.g. called from a notebook cell

    assert asyncio.run(inside_a_loop()) == 10


def bytes_spec(
    data: bytes = b'{"custom_id":"a"}\n',
    *,
    endpoint: str = "/v1/chat/completions",
    tags: dict[str, str] | None = None,
) -> ShardSpec:
    return ShardSpec(
        "run1", "s1", endpoint, None, data.count(b"\n"), len(data), "h",
        open=lambda: io.BytesIO(data), tags=tags or {"batchport_run": "run1"},
    )  # fmt: skip


BATCH = {
    "id": "batch_1",
    "object": "batch",
    "endpoint": "/v1/chat/completions",
    "input_file_id": "file-in",
    "completion_window": "24h",
    "status": "completed",
    "output_file_id": "file-out",
    "created_at": 1,
    "request_counts": {"total": 2, "completed": 2, "failed": 0},
    "metadata": {"batchport_run": "r"},
}
LINE = b'{"custom_id":"%d","response":{"status_code":200,"body":{"choices":[]}},"error":null}\n'


def _handler(request: httpx2.Request) -> httpx2.Response:
    path = request.url.path
    if path == "/v1/batches" and request.method == "GET":
        return httpx2.Response(200, json={"object": "list", "data": [BATCH], "has_more": False})
    if path == "/v1/batches/batch_1":
        return httpx2.Response(200, json=BATCH)
    if path == "/v1/files/file-out/content":
        return httpx2.Response(200, content=b"".join(LINE % i for i in range(5000)))
    return httpx2.Response(404, json={"error": {"message": "No such thing", "type": "x"}})


def test_sync_backend_wraps_every_call() -> None:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(_handler))
    client = openai.AsyncOpenAI(api_key="sk-x", base_url="http://mock.test/v1", http_client=http)
    with SyncBackend(OpenAIBackend(client)) as sync:
        assert "OpenAIBackend" in repr(sync)
        job = sync.poll(Job(id="batch_1", status=JobStatus.VALIDATING))
        assert job.status is JobStatus.COMPLETED
        assert sync.find(bytes_spec(tags={"batchport_run": "r"})) == job
        assert sync.find(bytes_spec(tags={"batchport_run": "other"})) is None
        rows = sync.results(job)
        assert [next(rows).custom_id for _ in range(3)] == ["0", "1", "2"]
        rows.close()  # stopping early releases the download
        assert sum(1 for _ in sync.results(job)) == 5000
        with pytest.raises(NotFoundError):
            sync.cancel(Job(id="batch_2", status=JobStatus.IN_PROGRESS))
        assert sync.quota_limits() == {}
        sync.call(client.close)  # an injected client stays the caller's to close
    sync.close()  # twice is fine


def test_sync_backend_by_name_closes_what_it_built() -> None:
    sync = SyncBackend("openai", api_key="sk-RECOGNISABLE-0000", base_url="http://mock.test/v1")
    assert "RECOGNISABLE" not in repr(sync)
    backend = sync.backend
    assert isinstance(backend, OpenAIBackend)
    sync.close()
    assert backend.client.is_closed()


def test_sync_backend_drives_the_memory_backend() -> None:
    spec = bytes_spec(b'{"custom_id":"a"}\n{"custom_id":"b"}\n')
    with SyncBackend("memory", polls=2) as sync:
        job = sync.submit(spec, DictCheckpoint())
        statuses = [sync.poll(job).status, sync.poll(job).status]
        assert statuses == [JobStatus.IN_PROGRESS, JobStatus.COMPLETED]
        assert [r.custom_id for r in sync.results(job)] == ["a", "b"]
        sync.release(job, {})
        assert sync.sweep("run1", keep=()) == 0


def test_sync_backend_drives_the_embedded_emulator() -> None:
    pytest.importorskip("batchport_emulator")
    line = (
        b'{"custom_id":"a","method":"POST","url":"/v1/embeddings",'
        b'"body":{"model":"text-embedding-3-small","input":"hi"}}\n'
    )
    checkpoint = DictCheckpoint()
    with SyncBackend("emulator") as sync:
        job = sync.submit(bytes_spec(line, endpoint="/v1/embeddings"), checkpoint)
        for _ in range(20):
            job = sync.poll(job)
            if job.status.is_terminal:
                break
        assert job.status is JobStatus.COMPLETED
        [row] = list(sync.results(job))
        assert (row.custom_id, row.outcome) == ("a", Outcome.SUCCEEDED)
        sync.release(job, checkpoint)
