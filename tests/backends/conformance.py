"""The backend conformance suite: behaviours every backend must show.

A backend passes by subclassing :class:`BackendConformance` in a ``test_*.py`` module and
supplying two fixtures: ``backend`` (an open :class:`Backend`, closed afterwards) and
``harness`` (a :class:`Harness` saying what the test may control on that target). The
same input files work on a live service; cases that need control the target does not
give (forced row failures, holding a batch half-way) are skipped there, with the reason.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import orjson
import pytest

from batchport.backends.base import Backend, BatchJob, BatchStatus
from batchport.backends.results import ResultRow, aiter_result_rows
from batchport.errors import ConflictError, NotFoundError

_ORDER = [
    BatchStatus.VALIDATING,
    BatchStatus.IN_PROGRESS,
    BatchStatus.FINALIZING,
    BatchStatus.COMPLETED,
]


class Harness:
    """What the suite may control on one target. Subclass per target."""

    #: rows whose text holds ``[[emulator:status=NNN]]`` answer HTTP NNN
    forces_row_failures = False
    #: :meth:`hold_half_way` can stop a batch with some rows done and some not
    holds_progress = False
    #: output lines come back in a different order than the input
    shuffles_output = False
    #: every status from validating to completed is observable by polling
    shows_every_stage = False
    #: list_batches order is exactly newest-first even within one second
    strict_list_order = False
    #: the provider's code for a line whose url differs from the batch endpoint
    url_error_code = "invalid_url"
    model = "gpt-4o-mini"
    endpoint = "/v1/chat/completions"
    url = "/v1/chat/completions"
    max_polls = 200

    async def tick(self) -> None:
        """Let time pass between two polls (virtual time where possible)."""

    async def settle(self, backend: Backend, batch_id: str) -> tuple[BatchJob, list[BatchStatus]]:
        """Poll until terminal; returns the last job and every status seen."""
        seen: list[BatchStatus] = []
        for _ in range(self.max_polls):
            job = await backend.retrieve_batch(batch_id)
            if not seen or seen[-1] is not job.status:
                seen.append(job.status)
            if job.status.is_terminal:
                return job, seen
            await self.tick()
        pytest.fail(f"batch {batch_id} not terminal after {self.max_polls} polls: {seen}")

    async def hold_half_way(self, backend: Backend, batch_id: str) -> BatchJob:
        """Poll until some but not all rows are done (only when ``holds_progress``)."""
        for _ in range(self.max_polls):
            job = await backend.retrieve_batch(batch_id)
            done = job.request_counts.completed + job.request_counts.failed
            if job.status is BatchStatus.IN_PROGRESS and 0 < done < job.request_counts.total:
                return job
            assert not job.status.is_terminal, f"finished before it could be held: {job}"
            await self.tick()
        pytest.fail(f"batch {batch_id} never reached a half-way point")


def chat_line(harness: Harness, custom_id: str, text: str, *, url: str | None = None) -> bytes:
    body = {
        "model": harness.model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 5,
    }
    line = {"custom_id": custom_id, "method": "POST", "url": url or harness.url, "body": body}
    return orjson.dumps(line) + b"\n"


def write_file(path: Path, lines: Iterable[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


async def read_rows(backend: Backend, file_id: str | None, source: Any) -> list[ResultRow]:
    if file_id is None:
        return []
    async with aclosing(
        aiter_result_rows(_stream(backend, file_id), source=source, path=file_id)
    ) as rows:
        return [row async for row in rows]


async def _stream(backend: Backend, file_id: str) -> AsyncIterator[bytes]:
    async with aclosing(backend.stream_file(file_id)) as chunks:
        async for chunk in chunks:
            yield chunk


def unique_tag() -> str:
    return f"conf-{uuid.uuid4().hex[:12]}"


class BackendConformance:
    """Behaviours shared by all backends; subclasses provide ``backend`` and ``harness``."""

    async def _submit(
        self, backend: Backend, harness: Harness, tmp_path: Path, lines: list[bytes], **kw: Any
    ) -> BatchJob:
        path = write_file(tmp_path / f"{unique_tag()}.jsonl", lines)
        ref = await backend.upload_file(path)
        return await backend.create_batch(input_file_id=ref.id, endpoint=harness.endpoint, **kw)

    async def test_upload_and_create(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        path = write_file(tmp_path / "upload.jsonl", [chat_line(harness, "u1", "Say hi")])
        ref = await backend.upload_file(path)
        assert (ref.filename, ref.purpose, ref.bytes) == (
            "upload.jsonl",
            "batch",
            path.stat().st_size,
        )
        assert (await backend.retrieve_file(ref.id)).id == ref.id
        job = await backend.create_batch(input_file_id=ref.id, endpoint=harness.endpoint)
        assert job.status is BatchStatus.VALIDATING
        assert (job.input_file_id, job.endpoint) == (ref.id, harness.endpoint)
        assert job.created_at is not None
        assert job.raw["id"] == job.id
        await harness.settle(backend, job.id)

    async def test_status_progression_to_terminal(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        lines = [chat_line(harness, f"p{i}", f"Say {i}") for i in range(3)]
        created = await self._submit(backend, harness, tmp_path, lines)
        job, seen = await harness.settle(backend, created.id)
        seen = [created.status, *seen] if seen[0] is not created.status else seen
        assert seen == [s for s in _ORDER if s in seen], f"out of order: {seen}"
        assert seen[-1] is BatchStatus.COMPLETED
        if harness.shows_every_stage:
            assert seen == _ORDER
        assert job.request_counts.total == 3
        assert job.request_counts.completed == 3
        stamps = [job.created_at, job.in_progress_at, job.finalizing_at, job.completed_at]
        assert all(s is not None for s in stamps)
        assert stamps == sorted(stamps)
        assert job.output_file_id is not None
        assert await read_rows(backend, job.error_file_id, "error") == []

    async def test_results_join_by_custom_id_out_of_order(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        ids = [f"row-{i:02d}" for i in range(12)]
        lines = [chat_line(harness, cid, f"Repeat the word {cid}") for cid in ids]
        job, _ = await harness.settle(
            backend, (await self._submit(backend, harness, tmp_path, lines)).id
        )
        rows = await read_rows(backend, job.output_file_id, "output")
        by_id = {row.custom_id: row for row in rows}
        assert len(by_id) == len(rows) == len(ids)
        assert set(by_id) == set(ids)
        for row in rows:
            assert row.ok
            assert row.source == "output"
            assert row.body is not None
            assert row.body.get("object") == "chat.completion"
        if harness.shuffles_output:
            assert [row.custom_id for row in rows] != ids

    async def test_partial_failures_land_in_error_rows(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        if not harness.forces_row_failures:
            pytest.skip("target cannot force per-row failures ([[emulator:status=NNN]])")
        texts = {
            "ok-1": "Say one",
            "bad-500": "Say two [[emulator:status=500]]",
            "ok-2": "Say three",
            "bad-400": "Say four [[emulator:status=400]]",
        }
        lines = [chat_line(harness, cid, text) for cid, text in texts.items()]
        job, _ = await harness.settle(
            backend, (await self._submit(backend, harness, tmp_path, lines)).id
        )
        assert job.status is BatchStatus.COMPLETED
        assert (job.request_counts.completed, job.request_counts.failed) == (2, 2)
        ok = await read_rows(backend, job.output_file_id, "output")
        bad = await read_rows(backend, job.error_file_id, "error")
        assert sorted(r.custom_id for r in ok) == ["ok-1", "ok-2"]
        assert {r.custom_id: r.status_code for r in bad} == {"bad-500": 500, "bad-400": 400}
        for row in bad:
            assert row.error is not None
            assert row.error.message
            assert not row.ok

    async def test_validation_failure_is_failed_with_line_numbers(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        lines = [
            chat_line(harness, "v1", "Say hi"),
            chat_line(harness, "v2", "Say hi", url="/v1/embeddings"),
            chat_line(harness, "v3", "Say hi"),
        ]
        job, _ = await harness.settle(
            backend, (await self._submit(backend, harness, tmp_path, lines)).id
        )
        assert job.status is BatchStatus.FAILED
        assert job.failed_at is not None
        assert job.output_file_id is None
        assert [(e.code, e.line) for e in job.errors] == [(harness.url_error_code, 2)]
        assert job.errors[0].message

    async def test_cancel_keeps_finished_rows(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        ids = [f"c{i}" for i in range(8)]
        lines = [chat_line(harness, cid, f"Count to {cid}") for cid in ids]
        created = await self._submit(backend, harness, tmp_path, lines)
        held = await harness.hold_half_way(backend, created.id) if harness.holds_progress else None
        try:
            cancelling = await backend.cancel_batch(created.id)
        except ConflictError:  # a live batch may finish before the cancel arrives
            cancelling = await backend.retrieve_batch(created.id)
        assert cancelling.status is BatchStatus.CANCELLING or cancelling.status.is_terminal
        job, _ = await harness.settle(backend, created.id)
        ok = await read_rows(backend, job.output_file_id, "output")
        bad = await read_rows(backend, job.error_file_id, "error")
        assert {r.custom_id for r in ok} <= set(ids)
        assert all(r.ok for r in ok)
        assert len(ok) == job.request_counts.completed
        if held is not None:
            assert job.status is BatchStatus.CANCELLED
            assert len(ok) >= held.request_counts.completed > 0
            assert len(ok) < len(ids)
            assert job.cancelled_at is not None
            never_ran = [r for r in bad if r.status_code is None]
            assert {r.custom_id for r in ok} | {r.custom_id for r in bad} <= set(ids)
            assert all(r.error is not None and r.error.code for r in never_ran)

    async def test_unknown_ids_raise_not_found(self, backend: Backend) -> None:
        missing_batch = f"batch_{uuid.uuid4().hex}"
        missing_file = f"file-{uuid.uuid4().hex[:22]}"
        with pytest.raises(NotFoundError):
            await backend.retrieve_batch(missing_batch)
        with pytest.raises(NotFoundError):
            await backend.cancel_batch(missing_batch)
        with pytest.raises(NotFoundError):
            await backend.retrieve_file(missing_file)
        with pytest.raises(NotFoundError):
            await backend.delete_file(missing_file)
        with pytest.raises(NotFoundError):
            await read_rows(backend, missing_file, "output")

    async def test_list_paginates_and_filters_by_metadata(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        tag = unique_tag()
        path = write_file(tmp_path / "list.jsonl", [chat_line(harness, "l1", "Say hi")])
        ref = await backend.upload_file(path)
        created = []
        for i in range(3):
            job = await backend.create_batch(
                input_file_id=ref.id,
                endpoint=harness.endpoint,
                metadata={"suite": tag, "i": str(i)},
            )
            created.append(job.id)
        found: list[str] = []
        async with aclosing(backend.list_batches(metadata={"suite": tag}, page_size=2)) as jobs:
            async for job in jobs:
                assert job.metadata["suite"] == tag
                found.append(job.id)
                if len(found) == len(created):
                    break
        assert sorted(found) == sorted(created)
        if harness.strict_list_order:
            assert found == created[::-1]  # newest first
        for batch_id in created:
            await harness.settle(backend, batch_id)

    async def test_metadata_round_trip(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        metadata = {"run": unique_tag(), "shard": "3", "note": "ünïcode ok", "empty": ""}
        lines = [chat_line(harness, "m1", "Say hi")]
        created = await self._submit(backend, harness, tmp_path, lines, metadata=metadata)
        assert dict(created.metadata) == metadata
        assert dict((await backend.retrieve_batch(created.id)).metadata) == metadata
        await harness.settle(backend, created.id)

    async def test_delete_file(self, backend: Backend, harness: Harness, tmp_path: Path) -> None:
        path = write_file(tmp_path / "delete.jsonl", [chat_line(harness, "d1", "Say hi")])
        ref = await backend.upload_file(path)
        await backend.delete_file(ref.id)
        with pytest.raises(NotFoundError):
            await backend.retrieve_file(ref.id)

    async def test_stream_file_in_chunks(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        lines = [chat_line(harness, f"s{i:05d}", "x" * 200) for i in range(800)]  # ~250 kB
        path = write_file(tmp_path / "stream.jsonl", lines)
        ref = await backend.upload_file(path)
        chunks: list[bytes] = []
        async with aclosing(backend.stream_file(ref.id)) as stream:
            async for chunk in stream:
                chunks.append(chunk)
        assert b"".join(chunks) == path.read_bytes()
        assert len(chunks) > 1
        await backend.delete_file(ref.id)


class PollingHarness(Harness):
    """For live services: real time passes between polls."""

    def __init__(self, *, poll_s: float = 10.0, timeout_s: float = 3600.0) -> None:
        self.poll_s = poll_s
        self.max_polls = max(1, int(timeout_s / poll_s))

    async def tick(self) -> None:
        await asyncio.sleep(self.poll_s)
