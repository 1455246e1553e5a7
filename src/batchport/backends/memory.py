"""The ``memory`` backend: the whole seam in memory, for tests and as a worked example.

No server and no real time: a submitted shard becomes a job; every :meth:`poll`
answers the next share of its rows (all of them after ``polls`` polls, when the job is
``completed``); :meth:`results` yields one row per request line. ``respond`` decides
each row; by default every row succeeds with a tiny chat completion.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar

import orjson

from batchport.backends.base import Backend, Checkpoint
from batchport.backends.models import (
    Job,
    JobStatus,
    Outcome,
    RequestCounts,
    ResultRow,
    RowError,
    ShardSpec,
    Usage,
)
from batchport.errors import ConflictError, NotFoundError

__all__ = ["DictCheckpoint", "MemoryBackend", "Responder", "succeed"]

#: decides one row from its request line ``{"custom_id", "method", "url", "body"}``
Responder = Callable[[Mapping[str, Any]], ResultRow]


class DictCheckpoint(dict[str, str]):
    """A :class:`~batchport.backends.base.Checkpoint` in a dict, for driving a backend
    by hand (tests, scripts): ``set(key, None)`` forgets the key. Not durable."""

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self.pop(key, None)
        else:
            self[key] = value


def succeed(request: Mapping[str, Any]) -> ResultRow:
    """The default answer: a one-word chat completion with usage."""
    body = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }
    usage = Usage(input_tokens=1, output_tokens=1)
    cid = str(request["custom_id"])
    return ResultRow(cid, Outcome.SUCCEEDED, status_code=200, body=body, text="ok", usage=usage)


class MemoryBackend(Backend):
    """Jobs in a dict. ``jobs`` maps job id to the job as last polled (tests count
    submits with it). Cancelling a job keeps the rows already answered; the others
    come back ``CANCELLED``."""

    name: ClassVar[str] = "memory"
    provider: ClassVar[str] = "openai"

    def __init__(self, respond: Responder | None = None, *, polls: int = 1) -> None:
        self.respond = respond or succeed
        self.polls = max(1, polls)
        self.jobs: dict[str, Job] = {}
        self._lines: dict[str, list[dict[str, Any]]] = {}
        self._rows: dict[str, list[ResultRow]] = {}
        self._polled: dict[str, int] = {}
        self._ids = itertools.count(1)

    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        with spec.open() as fh:
            lines = [orjson.loads(line) for line in fh if line.strip()]
        job = Job(
            id=f"mem-{next(self._ids)}",
            status=JobStatus.VALIDATING,
            counts=RequestCounts(total=len(lines)),
            metadata=dict(spec.tags),
        )
        self.jobs[job.id], self._lines[job.id] = job, lines
        self._rows[job.id], self._polled[job.id] = [], 0
        return job

    async def find(self, spec: ShardSpec, checkpoint: Mapping[str, str]) -> Job | None:
        tags = spec.tags.items()
        return next((j for j in self.jobs.values() if tags and tags <= j.metadata.items()), None)

    async def poll(self, job: Job) -> Job:
        job, lines, rows = self._get(job.id)
        if job.status.is_terminal:
            return job
        self._polled[job.id] += 1
        due = len(lines) * self._polled[job.id] // self.polls
        rows.extend(self._answer(job.id, i, lines[i]) for i in range(len(rows), due))
        done = len(rows) == len(lines)
        return self._set(job, JobStatus.COMPLETED if done else JobStatus.IN_PROGRESS)

    async def results(self, job: Job) -> AsyncIterator[ResultRow]:
        job, lines, rows = self._get(job.id)
        for row in rows:
            yield row
        for i in range(len(rows), len(lines)):
            error = RowError("batch_cancelled", "the batch was cancelled before this row ran")
            cid = str(lines[i]["custom_id"])
            yield ResultRow(cid, Outcome.CANCELLED, error=error, source=job.id, line=i + 1)

    async def cancel(self, job: Job) -> Job:
        job = self._get(job.id)[0]
        if job.status.is_terminal and job.status is not JobStatus.CANCELLED:
            raise ConflictError(f"job {job.id} is {job.status}", provider="memory")
        return self._set(job, JobStatus.CANCELLED)

    async def aclose(self) -> None:
        return None

    def _answer(self, job_id: str, index: int, line: Mapping[str, Any]) -> ResultRow:
        return dataclasses.replace(self.respond(line), source=job_id, line=index + 1)

    def _get(self, job_id: str) -> tuple[Job, list[dict[str, Any]], list[ResultRow]]:
        if job_id not in self.jobs:
            raise NotFoundError(f"no job {job_id!r}", provider="memory", status_code=404)
        return self.jobs[job_id], self._lines[job_id], self._rows[job_id]

    def _set(self, job: Job, status: JobStatus) -> Job:
        rows = self._rows[job.id]
        ok = sum(1 for r in rows if r.status_code is not None and 200 <= r.status_code < 300)
        counts = RequestCounts(job.counts.total, ok, len(rows) - ok)
        self.jobs[job.id] = dataclasses.replace(job, status=status, counts=counts)
        return self.jobs[job.id]
