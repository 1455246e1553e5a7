"""The backend conformance suite: behaviours every backend must show, through the seam.

A backend passes by subclassing :class:`BackendConformance` (or
:class:`FileBackendConformance` for backends on the OpenAI-shaped file base) in a
``test_*.py`` module and supplying two fixtures: ``backend`` (an open
:class:`Backend`, closed afterwards) and ``harness`` (a :class:`Harness` saying what
the test may control on that target). The same cases run on a live service; those
that need control the target does not give (forced row failures, holding a job
half-way, a quota refusal) are skipped there, with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import Iterable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import orjson
import pytest

from batchport.backends.base import Backend
from batchport.backends.files import FILE_ID, FileBackend
from batchport.backends.memory import DictCheckpoint
from batchport.backends.models import Job, JobStatus, Outcome, ResultRow, ShardSpec
from batchport.errors import ConflictError, NotFoundError

_ORDER = [
    JobStatus.VALIDATING,
    JobStatus.IN_PROGRESS,
    JobStatus.FINALIZING,
    JobStatus.COMPLETED,
]


class Harness:
    """What the suite may control on one target. Subclass per target."""

    #: rows whose text holds ``[[emulator:status=NNN]]`` answer HTTP NNN
    forces_row_failures = False
    #: :meth:`hold_half_way` can stop a job with some rows done and some not
    holds_progress = False
    #: result rows come back in a different order than the input
    shuffles_output = False
    #: every status from validating to completed is observable by polling
    shows_every_stage = False
    #: a line whose url differs from the endpoint fails the whole job at validation
    validates_lines = True
    #: list_batches order is exactly newest-first even within one second
    strict_list_order = False
    #: the provider's code for a line whose url differs from the batch endpoint
    url_error_code = "invalid_url"
    #: jobs carry the shard's tags, and find() adopts by them alone (else: by the
    #: intent submit() recorded in the checkpoint)
    tags_jobs = True
    #: the key and value that mark a successful row's body as this endpoint's answer
    #: (None: the answer has no such mark)
    body_kind: tuple[str, str] | None = ("object", "chat.completion")
    model = "gpt-4o-mini"
    endpoint = "/v1/chat/completions"
    url = "/v1/chat/completions"
    max_polls = 200

    def body(self, text: str) -> dict[str, Any]:
        """A request body asking ``text`` of :attr:`model`, in the endpoint's shape."""
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": 5,
        }

    async def tick(self) -> None:
        """Let time pass between two polls (virtual time where possible)."""

    async def refuse_for_quota(self, mode: str) -> bool:
        """Make the next submits exceed the enqueued-token quota, refused at create
        (``mode="fail_fast"``) or failed after validation (``"fail_batch"``). False
        when the target cannot."""
        return False

    async def uploads(self, backend: Backend, spec: ShardSpec) -> int | None:
        """How many uploads named ``spec.filename`` the provider holds (None: no files)."""
        if not isinstance(backend, FileBackend):
            return None
        return sum([1 async for ref in backend.list_files() if ref.filename == spec.filename])

    async def settle(self, backend: Backend, job: Job) -> tuple[Job, list[JobStatus]]:
        """Poll until terminal; returns the last job and every status seen."""
        seen: list[JobStatus] = []
        for _ in range(self.max_polls):
            job = await backend.poll(job)
            if not seen or seen[-1] is not job.status:
                seen.append(job.status)
            if job.status.is_terminal:
                return job, seen
            await self.tick()
        pytest.fail(f"job {job.id} not terminal after {self.max_polls} polls: {seen}")

    async def hold_half_way(self, backend: Backend, job: Job) -> Job:
        """Poll until some but not all rows are done (only when ``holds_progress``)."""
        for _ in range(self.max_polls):
            job = await backend.poll(job)
            done = job.counts.completed + job.counts.failed
            if job.status is JobStatus.IN_PROGRESS and 0 < done < job.counts.total:
                return job
            assert not job.status.is_terminal, f"finished before it could be held: {job}"
            await self.tick()
        pytest.fail(f"job {job.id} never reached a half-way point")


def chat_line(harness: Harness, custom_id: str, text: str, *, url: str | None = None) -> bytes:
    body = harness.body(text)
    line = {"custom_id": custom_id, "method": "POST", "url": url or harness.url, "body": body}
    return orjson.dumps(line) + b"\n"


def unique_tag() -> str:
    return f"conf-{uuid.uuid4().hex[:12]}"


def make_spec(
    path: Path,
    lines: Iterable[bytes],
    harness: Harness,
    *,
    run_id: str | None = None,
    shard_id: str = "s1",
    tags: dict[str, str] | None = None,
    submit: int = 0,
) -> ShardSpec:
    """Write ``lines`` to ``path`` and describe them as a shard of a fresh run."""
    data = b"".join(lines)
    path.write_bytes(data)
    run_id = run_id or unique_tag()
    if tags is None:
        tags = {"batchport_run": run_id, "batchport_shard": shard_id}
        tags["batchport_submit"] = str(submit)
    return ShardSpec(
        run_id=run_id,
        shard_id=shard_id,
        endpoint=harness.endpoint,
        model=harness.model,
        rows=data.count(b"\n"),
        bytes=len(data),
        content_hash=hashlib.sha256(data).hexdigest(),
        open=lambda: path.open("rb"),
        tags=tags,
        submit=submit,
    )


def answered(row: ResultRow) -> bool:
    """The row ran and answered 2xx (succeeded, or truncated by ``max_tokens``...)."""
    return row.status_code is not None and 200 <= row.status_code < 300


def bytes_spec(
    data: bytes = b'{"custom_id":"a"}\n',
    *,
    endpoint: str = "/v1/chat/completions",
    tags: dict[str, str] | None = None,
    run_id: str = "run1",
    shard_id: str = "s1",
    file_expires_after_s: int | None = None,
) -> ShardSpec:
    """A shard held in memory, for tests that need no real file."""
    return ShardSpec(
        run_id=run_id,
        shard_id=shard_id,
        endpoint=endpoint,
        model=None,
        rows=data.count(b"\n"),
        bytes=len(data),
        content_hash=hashlib.sha256(data).hexdigest(),
        open=lambda: io.BytesIO(data),
        tags=tags if tags is not None else {"batchport_run": run_id},
        file_expires_after_s=file_expires_after_s,
    )


async def read_rows(backend: Backend, job: Job) -> list[ResultRow]:
    async with aclosing(backend.results(job)) as rows:  # type: ignore[type-var]
        return [row async for row in rows]


class BackendConformance:
    """Behaviours shared by all backends; subclasses provide ``backend`` and ``harness``."""

    async def _submit(
        self, backend: Backend, harness: Harness, tmp_path: Path, lines: list[bytes], **kw: Any
    ) -> Job:
        spec = make_spec(tmp_path / f"{unique_tag()}.jsonl", lines, harness, **kw)
        return await backend.submit(spec, DictCheckpoint())

    async def test_submit_tags_the_job_and_find_adopts_it(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        run = unique_tag()
        tags = {"batchport_run": run, "batchport_shard": "3", "batchport_submit": "0"}
        tags |= {"note": "ünïcode ok", "empty": ""}
        lines = [chat_line(harness, "m1", "Say hi")]
        spec = make_spec(tmp_path / "tags.jsonl", lines, harness, tags=tags)
        checkpoint = DictCheckpoint()
        job = await backend.submit(spec, checkpoint)
        assert job.id
        assert job.status in (JobStatus.VALIDATING, JobStatus.IN_PROGRESS)
        assert job.requeue is None
        if not harness.tags_jobs:  # adopted through what submit recorded, nothing else
            assert await backend.find(spec, {}) is None
            found = await backend.find(spec, checkpoint)
            assert found is not None and found.id == job.id
            await harness.settle(backend, job)
            return
        assert dict(job.metadata) == tags
        assert dict((await backend.poll(job)).metadata) == tags
        found = await backend.find(spec, {})
        assert found is not None and found.id == job.id
        again = make_spec(
            tmp_path / "tags2.jsonl", lines, harness, tags=tags | {"batchport_submit": "1"}
        )
        assert await backend.find(again, {}) is None
        await harness.settle(backend, job)

    async def test_status_progression_to_terminal(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        lines = [chat_line(harness, f"p{i}", f"Say {i}") for i in range(3)]
        created = await self._submit(backend, harness, tmp_path, lines)
        job, seen = await harness.settle(backend, created)
        seen = [created.status, *seen] if seen[0] is not created.status else seen
        assert seen == [s for s in _ORDER if s in seen], f"out of order: {seen}"
        assert seen[-1] is JobStatus.COMPLETED
        if harness.shows_every_stage:
            assert seen == _ORDER
        assert (job.counts.total, job.counts.completed, job.counts.failed) == (3, 3, 0)
        rows = await read_rows(backend, job)
        assert sorted(r.custom_id for r in rows) == ["p0", "p1", "p2"]
        for row in rows:  # max_tokens 5 may truncate the answer: still a 2xx verdict
            assert answered(row) and not row.retryable, row
            assert row.outcome in (Outcome.SUCCEEDED, Outcome.TRUNCATED)
            assert row.text is not None
            assert row.usage is not None and row.usage.input_tokens > 0

    async def test_results_join_by_custom_id_out_of_order(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        ids = [f"row-{i:02d}" for i in range(12)]
        lines = [chat_line(harness, cid, f"Repeat the word {cid}") for cid in ids]
        job, _ = await harness.settle(
            backend, await self._submit(backend, harness, tmp_path, lines)
        )
        rows = await read_rows(backend, job)
        by_id = {row.custom_id: row for row in rows}
        assert len(by_id) == len(rows) == len(ids)
        assert set(by_id) == set(ids)
        for row in rows:
            assert answered(row)
            assert row.source and row.line is not None and row.line >= 1
            assert row.body is not None
            if harness.body_kind is not None:
                key, value = harness.body_kind
                assert row.body.get(key) == value
        if harness.shuffles_output:
            assert [row.custom_id for row in rows] != ids

    async def test_partial_failures_are_failed_rows_with_retryable_flags(
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
            backend, await self._submit(backend, harness, tmp_path, lines)
        )
        assert job.status is JobStatus.COMPLETED
        assert (job.counts.completed, job.counts.failed) == (2, 2)
        rows = {r.custom_id: r for r in await read_rows(backend, job)}
        assert sorted(rows) == sorted(texts)
        assert {c for c, r in rows.items() if answered(r)} == {"ok-1", "ok-2"}
        verdicts = {c: (r.outcome, r.retryable, r.status_code) for c, r in rows.items()}
        assert verdicts["bad-500"] == (Outcome.FAILED, True, 500)
        assert verdicts["bad-400"] == (Outcome.FAILED, False, 400)
        for cid in ("bad-500", "bad-400"):
            error = rows[cid].error
            assert error is not None and error.code and error.message

    async def test_validation_failure_is_failed_with_line_numbers(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        if not harness.validates_lines:
            pytest.skip("target does not validate request lines")
        lines = [
            chat_line(harness, "v1", "Say hi"),
            chat_line(harness, "v2", "Say hi", url="/v1/embeddings"),
            chat_line(harness, "v3", "Say hi"),
        ]
        job, _ = await harness.settle(
            backend, await self._submit(backend, harness, tmp_path, lines)
        )
        assert job.status is JobStatus.FAILED
        assert job.requeue is None
        assert "output" not in job.refs
        assert [(e.code, e.line) for e in job.errors] == [(harness.url_error_code, 2)]
        assert job.errors[0].message
        assert await read_rows(backend, job) == []

    async def test_cancel_keeps_finished_rows(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        ids = [f"c{i}" for i in range(8)]
        lines = [chat_line(harness, cid, f"Count to {cid}") for cid in ids]
        created = await self._submit(backend, harness, tmp_path, lines)
        held = await harness.hold_half_way(backend, created) if harness.holds_progress else None
        try:
            cancelling = await backend.cancel(created)
        except ConflictError:  # a live batch may finish before the cancel arrives
            cancelling = await backend.poll(created)
        assert cancelling.status is JobStatus.CANCELLING or cancelling.status.is_terminal
        job, _ = await harness.settle(backend, created)
        rows = await read_rows(backend, job)
        ok = [r for r in rows if answered(r)]
        assert {r.custom_id for r in rows} <= set(ids)
        assert len(ok) == job.counts.completed
        if held is not None:
            assert job.status is JobStatus.CANCELLED
            assert len(ok) >= held.counts.completed > 0
            assert len(ok) < len(ids)
            assert {r.custom_id for r in rows} == set(ids)
            never_ran = [r for r in rows if r.status_code is None]
            assert never_ran
            for row in never_ran:
                assert (row.outcome, row.retryable) == (Outcome.CANCELLED, False)
                assert row.error is not None and row.error.code

    async def test_unknown_ids_raise_not_found(self, backend: Backend) -> None:
        missing = Job(id=f"batch_{uuid.uuid4().hex}", status=JobStatus.IN_PROGRESS)
        with pytest.raises(NotFoundError):
            await backend.poll(missing)
        with pytest.raises(NotFoundError):
            await backend.cancel(missing)
        done = Job(
            id=missing.id,
            status=JobStatus.COMPLETED,
            refs={"output": f"file-{uuid.uuid4().hex[:22]}"},
        )
        with pytest.raises(NotFoundError):
            await read_rows(backend, done)

    async def test_a_second_submit_with_the_same_checkpoint_reuses_the_upload(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        lines = [chat_line(harness, "r1", "Say hi")]
        spec = make_spec(tmp_path / "again.jsonl", lines, harness)
        checkpoint = DictCheckpoint()
        first = await backend.submit(spec, checkpoint)
        after_first = await harness.uploads(backend, spec)
        second = await backend.submit(spec, checkpoint)
        assert first.id and second.id and first.id != second.id
        if after_first is not None:
            assert after_first == 1
            assert await harness.uploads(backend, spec) == 1
        for job in (first, second):
            assert (await harness.settle(backend, job))[0].status is JobStatus.COMPLETED

    @pytest.mark.parametrize("mode", ["fail_fast", "fail_batch"])
    async def test_quota_refusal_is_a_requeue_signal(
        self, backend: Backend, harness: Harness, tmp_path: Path, mode: str
    ) -> None:
        if not await harness.refuse_for_quota(mode):
            pytest.skip("target cannot be made to refuse for enqueued-token quota")
        lines = [chat_line(harness, "q1", "Say hi " * 50)]
        spec = make_spec(tmp_path / "quota.jsonl", lines, harness)
        checkpoint = DictCheckpoint()
        job = await backend.submit(spec, checkpoint)
        if mode == "fail_fast":
            assert (job.id, job.status) == ("", JobStatus.FAILED)
        else:
            job, _ = await harness.settle(backend, job)
            assert job.status is JobStatus.FAILED
        assert job.requeue
        assert await read_rows(backend, job) == []
        if isinstance(backend, FileBackend):  # the upload stays for the next submit
            assert checkpoint.get(FILE_ID)


class FileBackendConformance(BackendConformance):
    """The file primitives and mechanics of an OpenAI-shaped backend."""

    async def test_upload_and_create(
        self, backend: FileBackend, harness: Harness, tmp_path: Path
    ) -> None:
        spec = make_spec(tmp_path / "upload.jsonl", [chat_line(harness, "u1", "Say hi")], harness)
        ref = await backend.upload_file(spec)
        assert (ref.filename, ref.purpose, ref.bytes) == (spec.filename, "batch", spec.bytes)
        assert (await backend.retrieve_file(ref.id)).id == ref.id
        job = await backend.create_batch(spec, ref.id)
        assert job.status is JobStatus.VALIDATING
        assert job.raw["input_file_id"] == ref.id
        assert job.created_at is not None
        assert job.raw["id"] == job.id
        await harness.settle(backend, job)

    async def test_batch_timestamps_are_ordered(
        self, backend: FileBackend, harness: Harness, tmp_path: Path
    ) -> None:
        job, _ = await harness.settle(
            backend, await self._submit(backend, harness, tmp_path, [chat_line(harness, "t", "hi")])
        )
        keys = ("created_at", "in_progress_at", "finalizing_at", "completed_at")
        stamps = [job.raw.get(k) for k in keys]
        assert all(s is not None for s in stamps)
        assert stamps == sorted(stamps)

    async def test_list_paginates_and_filters_by_metadata(
        self, backend: FileBackend, harness: Harness, tmp_path: Path
    ) -> None:
        tag = unique_tag()
        lines = [chat_line(harness, "l1", "Say hi")]
        spec = make_spec(tmp_path / "list.jsonl", lines, harness, tags={"suite": tag})
        ref = await backend.upload_file(spec)
        created = []
        for i in range(3):
            tagged = make_spec(
                tmp_path / "list.jsonl", lines, harness, tags={"suite": tag, "i": str(i)}
            )
            created.append((await backend.create_batch(tagged, ref.id)).id)
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
            await harness.settle(backend, Job(id=batch_id, status=JobStatus.VALIDATING))

    async def test_delete_file(
        self, backend: FileBackend, harness: Harness, tmp_path: Path
    ) -> None:
        spec = make_spec(tmp_path / "delete.jsonl", [chat_line(harness, "d1", "Say hi")], harness)
        ref = await backend.upload_file(spec)
        await backend.delete_file(ref.id)
        with pytest.raises(NotFoundError):
            await backend.retrieve_file(ref.id)
        with pytest.raises(NotFoundError):
            await backend.delete_file(ref.id)

    async def test_stream_file_in_chunks(
        self, backend: FileBackend, harness: Harness, tmp_path: Path
    ) -> None:
        lines = [chat_line(harness, f"s{i:05d}", "x" * 200) for i in range(800)]  # ~250 kB
        spec = make_spec(tmp_path / "stream.jsonl", lines, harness)
        ref = await backend.upload_file(spec)
        chunks: list[bytes] = []
        async with aclosing(backend.stream_file(ref.id)) as stream:
            async for chunk in stream:
                chunks.append(chunk)
        assert b"".join(chunks) == (tmp_path / "stream.jsonl").read_bytes()
        assert len(chunks) > 1
        await backend.delete_file(ref.id)

    async def test_an_upload_a_crash_left_is_adopted(
        self, backend: FileBackend, harness: Harness, tmp_path: Path
    ) -> None:
        spec = make_spec(tmp_path / "crash.jsonl", [chat_line(harness, "a1", "Say hi")], harness)
        ref = await backend.upload_file(spec)  # uploaded, then the process died
        checkpoint = DictCheckpoint(upload="started")
        job = await backend.submit(spec, checkpoint)
        assert checkpoint[FILE_ID] == ref.id
        assert job.raw["input_file_id"] == ref.id
        assert await harness.uploads(backend, spec) == 1
        await harness.settle(backend, job)

    async def test_an_upload_that_never_landed_is_made_again(
        self, backend: FileBackend, harness: Harness, tmp_path: Path
    ) -> None:
        spec = make_spec(tmp_path / "lost.jsonl", [chat_line(harness, "a1", "Say hi")], harness)
        checkpoint = DictCheckpoint(upload="started")
        job = await backend.submit(spec, checkpoint)
        assert checkpoint[FILE_ID] == job.raw["input_file_id"]
        assert await harness.uploads(backend, spec) == 1
        await harness.settle(backend, job)

    async def test_sweep_deletes_uploads_no_shard_recorded(
        self, backend: FileBackend, harness: Harness, tmp_path: Path
    ) -> None:
        run, other = unique_tag(), unique_tag()
        line = [chat_line(harness, "w1", "Say hi")]
        specs = [
            make_spec(tmp_path / f"w{i}.jsonl", line, harness, run_id=r, shard_id=f"s{i}")
            for i, r in enumerate((run, run, other))
        ]
        kept, orphan, foreign = [await backend.upload_file(s) for s in specs]
        assert await backend.sweep(run, keep={kept.id}) == 1
        with pytest.raises(NotFoundError):
            await backend.retrieve_file(orphan.id)
        for ref in (kept, foreign):
            assert (await backend.retrieve_file(ref.id)).id == ref.id
        assert await backend.sweep(run, keep={kept.id}) == 0
        for ref in (kept, foreign):
            await backend.delete_file(ref.id)

    async def test_release_deletes_input_and_results(
        self, backend: FileBackend, harness: Harness, tmp_path: Path
    ) -> None:
        spec = make_spec(tmp_path / "rel.jsonl", [chat_line(harness, "x1", "Say hi")], harness)
        checkpoint = DictCheckpoint()
        job, _ = await harness.settle(backend, await backend.submit(spec, checkpoint))
        stored = [checkpoint[FILE_ID], *job.refs.values()]
        assert len(stored) >= 2
        await backend.release(job, checkpoint)
        for file_id in stored:
            with pytest.raises(NotFoundError):
                await backend.retrieve_file(file_id)
        await backend.release(job, checkpoint)  # already gone: quiet


class PollingHarness(Harness):
    """For live services: real time passes between polls."""

    def __init__(self, *, poll_s: float = 10.0, timeout_s: float = 3600.0) -> None:
        self.poll_s = poll_s
        self.max_polls = max(1, int(timeout_s / poll_s))

    async def tick(self) -> None:
        await asyncio.sleep(self.poll_s)
