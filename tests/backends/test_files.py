"""FileBackend mechanics over an httpx2 MockTransport: result streaming, lookups,
release and sweep without a server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from batchport.backends.models import Job, JobStatus, Outcome
from batchport.backends.openai import OpenAIBackend
from batchport.errors import ResultLineError

from .conformance import DictCheckpoint, bytes_spec, read_rows

Handler = Callable[[httpx2.Request], httpx2.Response]
OK = b'{"custom_id":"%s","response":{"status_code":200,"body":{"choices":[]}},"error":null}'
EXPIRED = b'{"custom_id":"%s","response":null,"error":{"code":"batch_expired","message":"late"}}'


def files(contents: dict[str, bytes]) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        file_id = request.url.path.split("/")[-2]
        if file_id not in contents:
            return httpx2.Response(404, json={"error": {"message": "No such file", "type": "x"}})
        return httpx2.Response(200, content=contents[file_id])

    return handler


def file_obj(i: int, filename: str, size: int = 10) -> dict[str, Any]:
    return {
        "id": f"file-{i}",
        "object": "file",
        "bytes": size,
        "created_at": 1,
        "filename": filename,
        "purpose": "batch",
        "status": "processed",
    }


async def test_results_stream_output_then_error_with_line_numbers(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    out = b"\xef\xbb\xbf" + OK % b"a" + b"\r\n\n" + OK % b"b" + b"\n"
    backend = make_backend(files({"file-out": out, "file-err": EXPIRED % b"c", "file-empty": b""}))
    backend.stream_chunk_size = 7  # type: ignore[misc]  # lines straddle many chunks
    job = Job(id="b", status=JobStatus.COMPLETED, refs={"output": "file-out", "error": "file-err"})
    rows = await read_rows(backend, job)
    assert [(r.custom_id, r.source, r.line, r.outcome) for r in rows] == [
        ("a", "file-out", 1, Outcome.SUCCEEDED),
        ("b", "file-out", 3, Outcome.SUCCEEDED),  # the blank line 2 is counted, not read
        ("c", "file-err", 1, Outcome.EXPIRED),
    ]
    assert rows[1].raw == OK % b"b"
    empty = Job(id="b", status=JobStatus.COMPLETED, refs={"error": "file-empty"})
    assert await read_rows(backend, empty) == []  # Azure's 0-byte error file


async def test_a_malformed_line_names_the_file_and_line(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    backend = make_backend(files({"file-out": OK % b"a" + b"\n" + b'{"custom_id":"b"}\n'}))
    job = Job(id="b", status=JobStatus.COMPLETED, refs={"output": "file-out"})
    with pytest.raises(ResultLineError) as info:
        await read_rows(backend, job)
    assert (info.value.source, info.value.line, info.value.rule) == (
        "file-out",
        2,
        "result_no_outcome",
    )
    assert "file-out:2: result_no_outcome" in str(info.value)


async def test_a_foreign_line_shape_is_an_error_not_a_row(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    anthropic = b'{"custom_id":"a","result":{"type":"succeeded","message":{"content":[]}}}\n'
    backend = make_backend(files({"file-out": anthropic}))
    job = Job(id="b", status=JobStatus.COMPLETED, refs={"output": "file-out"})
    with pytest.raises(ResultLineError, match="file-out:1: result_no_outcome"):
        await read_rows(backend, job)


async def test_adoption_looks_at_name_and_size_within_the_scan_limit(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    spec = bytes_spec(run_id="run9", shard_id="s2")
    listing = [
        file_obj(1, "run9.s2.jsonl", size=spec.bytes + 1),  # same name, other content
        file_obj(2, "other.jsonl"),
        file_obj(3, "run9.s2.jsonl", size=spec.bytes),
    ]

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"object": "list", "data": listing, "has_more": False})

    backend = make_backend(handler)
    found = await backend.find_upload(spec)
    assert found is not None and found.id == "file-3"
    backend.scan_limit = 2  # type: ignore[misc]
    assert await backend.find_upload(spec) is None


async def test_find_without_tags_never_asks(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("no request expected")

    backend = make_backend(handler)
    assert await backend.find(bytes_spec(tags={}), {}) is None


async def test_release_and_sweep_log_failures_instead_of_raising(
    make_backend: Callable[[Handler], OpenAIBackend], caplog: pytest.LogCaptureFixture
) -> None:
    deleted: list[str] = []
    listing = [file_obj(1, "run9.s1.jsonl"), file_obj(2, "run9.s2.jsonl"), file_obj(3, "x.jsonl")]

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":
            return httpx2.Response(200, json={"object": "list", "data": listing, "has_more": False})
        file_id = request.url.path.rsplit("/", 1)[-1]
        deleted.append(file_id)
        if file_id == "file-2":
            return httpx2.Response(500, json={"error": {"message": "boom", "type": "server"}})
        return httpx2.Response(200, json={"id": file_id, "object": "file", "deleted": True})

    backend = make_backend(handler)
    job = Job(id="b", status=JobStatus.COMPLETED, refs={"output": "file-out", "error": "file-2"})
    with caplog.at_level(logging.WARNING, logger="batchport.backends.files"):
        await backend.release(job, DictCheckpoint(file_id="file-in"))
        assert deleted == ["file-in", "file-out", "file-2"]
        deleted.clear()
        assert await backend.sweep("run9", keep={"file-1"}) == 0  # file-2 failed to delete
    assert deleted == ["file-2"]
    assert "could not delete file file-2" in caplog.text
