"""The memory backend: the conformance suite, and what runner tests rely on."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from batchport.backends import get_backend
from batchport.backends.memory import MemoryBackend
from batchport.backends.models import JobStatus, Outcome, ResultRow
from batchport.backends.openai import row_from_response

from .conformance import (
    BackendConformance,
    DictCheckpoint,
    Harness,
    chat_line,
    make_spec,
    read_rows,
)

_MARKER = re.compile(r"\[\[emulator:status=(\d{3})\]\]")


def markers(request: Mapping[str, Any]) -> ResultRow:
    """Answers like the emulator: ``[[emulator:status=NNN]]`` in the text forces HTTP NNN."""
    text = request["body"]["messages"][0]["content"]
    cid = request["custom_id"]
    if found := _MARKER.search(text):
        status = int(found[1])
        return row_from_response(cid, status, {"error": {"message": "forced", "code": None}})
    body = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    return row_from_response(cid, 200, body)


class MemoryHarness(Harness):
    forces_row_failures = True
    holds_progress = True
    validates_lines = False


class TestMemoryBackend(BackendConformance):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[MemoryBackend]:
        async with MemoryBackend(markers, polls=4) as backend:
            yield backend

    @pytest.fixture
    def harness(self) -> Harness:
        return MemoryHarness()


async def test_defaults_answer_every_row_on_the_first_poll(tmp_path: Path) -> None:
    harness = Harness()
    lines = [chat_line(harness, f"r{i}", "hi") for i in range(3)]
    spec = make_spec(tmp_path / "in.jsonl", lines, harness)
    backend = get_backend("memory")
    assert isinstance(backend, MemoryBackend)
    job = await backend.submit(spec, DictCheckpoint())
    assert job.status is JobStatus.VALIDATING
    job = await backend.poll(job)
    assert (job.status, job.counts.completed) == (JobStatus.COMPLETED, 3)
    rows = await read_rows(backend, job)
    assert [(r.custom_id, r.outcome, r.text, r.line) for r in rows] == [
        (f"r{i}", Outcome.SUCCEEDED, "ok", i + 1) for i in range(3)
    ]
    assert all(r.usage is not None and r.usage.total_tokens == 2 for r in rows)
    assert len(backend.jobs) == 1


async def test_cancel_before_any_poll_cancels_every_row(tmp_path: Path) -> None:
    harness = Harness()
    spec = make_spec(tmp_path / "in.jsonl", [chat_line(harness, "a", "hi")], harness)
    backend = MemoryBackend()
    job = await backend.cancel(await backend.submit(spec, DictCheckpoint()))
    assert job.status is JobStatus.CANCELLED
    assert await backend.poll(job) == job
    [row] = await read_rows(backend, job)
    assert (row.outcome, row.retryable, row.status_code) == (Outcome.CANCELLED, False, None)


async def test_find_needs_tags(tmp_path: Path) -> None:
    harness = Harness()
    spec = make_spec(tmp_path / "in.jsonl", [chat_line(harness, "a", "hi")], harness, tags={})
    backend = MemoryBackend()
    await backend.submit(spec, DictCheckpoint())
    assert await backend.find(spec, {}) is None
