"""The engine: drives every shard of a run to a reconciled end.

A shard moves through states recorded in the store::

    planned -> uploading -> uploaded -> creating -> created -> terminal -> downloaded
            -> reconciled                (or "abandoned" when the run is cancelled first)

``uploading`` and ``creating`` are *intents*, committed before the remote call; the
remote id is committed when the call returns. After a crash a ``creating`` shard first
looks for its batch by metadata tags and adopts it, so no shard is submitted twice.
Rows that come back retryable are moved into a child shard (``s0003-2``) and run again,
up to ``max_attempts`` submissions per row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import TypeVar, cast

from batchport.backends.base import Backend, BatchJob, BatchStatus, FileRef
from batchport.errors import BackendError, QuotaExceededError
from batchport.runner.clock import Clock
from batchport.runner.download import download_results
from batchport.runner.options import RunOptions
from batchport.runner.policy import Backoff, PollPolicy, QuotaGate
from batchport.runner.progress import ProgressSink, ShardView
from batchport.runner.reconcile import Reconciler
from batchport.store import ShardRecord, Store

__all__ = ["Engine"]

log = logging.getLogger("batchport.runner")
T = TypeVar("T")

_FILE_SCAN_LIMIT = 5000
FINAL_STATES = frozenset({"reconciled", "abandoned"})
TAG_RUN, TAG_SHARD, TAG_HASH, TAG_SUBMIT = (
    "batchport_run",
    "batchport_shard",
    "batchport_hash",
    "batchport_submit",
)


class Engine:
    def __init__(
        self,
        store: Store,
        run_id: str,
        backend: Backend,
        options: RunOptions,
        *,
        clock: Clock,
        progress: ProgressSink,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.backend = backend
        hint = backend.poll_interval_hint
        if hint is not None and options.poll == PollPolicy():  # the run left polling default
            poll = PollPolicy(interval=hint, max_interval=max(1.0, hint * 20))
            options = dataclasses.replace(options, poll=poll)
        self.opts = options
        self.clock = clock
        self.progress = progress
        self.quota = QuotaGate({**backend.quota_limits(), **options.quota_limits()})
        self._sem = asyncio.Semaphore(options.max_concurrent_shards)
        self._api_backoff = Backoff(base=1.0, factor=2.0, cap=60.0)
        self._requeue_backoff = Backoff(
            base=options.requeue_base_s, factor=2.0, cap=options.requeue_cap_s
        )
        self._held: dict[str, tuple[str, int]] = {}
        # admission order per shard: planned shards first, children as they are made
        self._order = {s.shard_id: i for i, s in enumerate(store.shards(run_id))}
        self._tg: asyncio.TaskGroup | None = None
        self._until: str | None = None
        self.reconciler = Reconciler(store, run_id, options, progress)

    # -- top level -------------------------------------------------------------------
    async def execute(self, *, until: str | None = None) -> None:
        """Drive every unfinished shard (and the children they spawn) to the end, or
        only until each is in state ``until`` (``"created"``: submit and return)."""
        self._until = until
        pending = [s for s in self.store.shards(self.run_id) if s.state not in FINAL_STATES]
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for shard in pending:
                    tg.create_task(self._drive(shard.shard_id))
        except BaseExceptionGroup as group:
            # one shard's failure stops the run (it can be resumed); report that error
            # itself rather than a group around it
            raise group.exceptions[0] from None
        finally:
            self._tg = None
        if until is None and pending:
            await self.sweep_orphan_files()

    def _spawn(self, shard_id: str) -> None:
        assert self._tg is not None
        self._order.setdefault(shard_id, len(self._order))
        self._tg.create_task(self._drive(shard_id))

    async def _drive(self, shard_id: str) -> None:
        async with self._sem:
            shard = self.store.get_shard(self.run_id, shard_id)
            while shard.state not in FINAL_STATES and shard.state != self._until:
                if self._run_cancelled() and shard.batch_id is None:
                    shard = self.reconciler.abandon(shard)
                    break
                shard = await self._step(shard)
            await self._release(shard)
        if shard.state == "reconciled":
            for child in self.reconciler.children_of(shard):
                self._spawn(child)

    async def _step(self, shard: ShardRecord) -> ShardRecord:
        state = shard.state
        if state in ("planned", "uploading"):
            return await self._upload(shard)
        if state in ("uploaded", "creating"):
            return await self._create(shard)
        if state == "created":
            return await self._poll(shard)
        if state == "terminal":
            await download_results(self, shard)
            return self.store.update_shard(self.run_id, shard.shard_id, state="downloaded")
        if state == "downloaded":
            return await self._finish(shard)
        raise AssertionError(f"unknown shard state {state!r}")

    def _run_cancelled(self) -> bool:
        return self.store.get_run(self.run_id).state in ("cancelling", "cancelled")

    # -- API calls with transient retries ----------------------------------------------
    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Call ``fn``; retry retryable API errors with capped backoff (``retry_after``
        honoured). Quota errors are not handled here."""
        attempt = 0
        while True:
            try:
                return await fn()
            except QuotaExceededError:
                raise
            except BackendError as exc:
                if not exc.retryable or attempt >= self.opts.api_retries:
                    raise
                delay = self._api_backoff.delay(attempt, at_least=exc.retry_after)
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                await self.clock.sleep(delay)
                attempt += 1

    # -- upload ------------------------------------------------------------------------
    async def _upload(self, shard: ShardRecord) -> ShardRecord:
        if shard.state == "uploading":  # a crash may have come after the upload itself
            name = Path(shard.input_path).name
            same = [r for r in await self.call("list files", self._run_files) if r.filename == name]
            if same and same[0].bytes == shard.bytes:
                log.info("shard %s: adopted upload %s", shard.shard_id, same[0].id)
                return self.store.update_shard(
                    self.run_id, shard.shard_id, state="uploaded", file_id=same[0].id
                )
        shard = self.store.update_shard(self.run_id, shard.shard_id, state="uploading")
        ref = await self.call(
            f"upload {shard.shard_id}",
            lambda: self.backend.upload_file(
                Path(shard.input_path), expires_after_s=self.opts.file_expires_after_s
            ),
        )
        self._view(shard, "uploaded")
        return self.store.update_shard(
            self.run_id, shard.shard_id, state="uploaded", file_id=ref.id
        )

    # -- create ------------------------------------------------------------------------
    def _tags(self, shard: ShardRecord) -> dict[str, str]:
        return {
            **self.opts.metadata,
            TAG_RUN: self.run_id,
            TAG_SHARD: shard.shard_id,
            TAG_HASH: shard.content_hash,
            TAG_SUBMIT: str(shard.requeues),
        }

    async def _find_batch(self, shard: ShardRecord) -> BatchJob | None:
        want = {TAG_RUN: self.run_id, TAG_SHARD: shard.shard_id, TAG_SUBMIT: str(shard.requeues)}
        it = self.backend.list_batches(metadata=want)
        async with aclosing(cast(AsyncGenerator[BatchJob, None], it)):
            async for job in it:
                return job
        return None

    async def _run_files(self, limit: int = _FILE_SCAN_LIMIT) -> list[FileRef]:
        """This run's uploads at the provider (named ``<run id>.<shard>.jsonl``)."""
        found: list[FileRef] = []
        it = self.backend.list_files(purpose="batch")
        async with aclosing(cast(AsyncGenerator[FileRef, None], it)):
            seen = 0
            async for ref in it:
                if ref.filename.startswith(f"{self.run_id}."):
                    found.append(ref)
                seen += 1
                if seen >= limit:
                    break
        return found

    async def sweep_orphan_files(self) -> int:
        """Delete uploads of this run that no shard uses (left by a crash between an
        upload and its commit). Returns how many were deleted."""
        used = {s.file_id for s in self.store.shards(self.run_id) if s.file_id}
        refs = await self.call("list files", self._run_files)
        orphans = [r for r in refs if r.id not in used]
        for ref in orphans:
            log.info("deleting orphaned upload %s (%s)", ref.id, ref.filename)
            await self._delete_quietly(ref.id)
        return len(orphans)

    async def _create(self, shard: ShardRecord) -> ShardRecord:
        await self._acquire(shard)
        key, order = shard.model or shard.endpoint, self._order.get(shard.shard_id, 0)
        # one create at a time per model, in shard order: a refused shard keeps its place
        async with self.quota.turn(key, order):
            result = await self._submit(shard)
        if isinstance(result, QuotaExceededError):
            return await self._requeue(shard, str(result), result.retry_after)
        return result

    async def _submit(self, shard: ShardRecord) -> ShardRecord | QuotaExceededError:
        if shard.state == "creating":
            found = await self.call("list batches", lambda: self._find_batch(shard))
            if found is not None:
                log.info("shard %s: adopted batch %s", shard.shard_id, found.id)
                return await self._created(shard, found)
        shard = self.store.update_shard(self.run_id, shard.shard_id, state="creating")
        attempt = 0
        while True:
            try:
                job = await self.backend.create_batch(
                    input_file_id=str(shard.file_id),
                    endpoint=shard.endpoint,
                    metadata=self._tags(shard),
                    completion_window=self.opts.completion_window,
                )
                return await self._created(shard, job)
            except QuotaExceededError as exc:
                # the shard keeps its tokens and its place; later shards wait behind it
                self.quota.block(shard.model or shard.endpoint, self._order.get(shard.shard_id, 0))
                return exc
            except BackendError as exc:
                if not exc.retryable or attempt >= self.opts.api_retries:
                    if exc.retryable:
                        raise
                    await self._release(shard)
                    await self._unblock(shard)
                    return self.reconciler.fail_shard(shard, exc)
                await self.clock.sleep(self._api_backoff.delay(attempt, at_least=exc.retry_after))
                attempt += 1
                # The failed call may have created the batch after all: adopt, never duplicate.
                found = await self.call("list batches", lambda: self._find_batch(shard))
                if found is not None:
                    return await self._created(shard, found)

    async def _unblock(self, shard: ShardRecord) -> None:
        await self.quota.unblock(shard.model or shard.endpoint, self._order.get(shard.shard_id, 0))

    async def _created(self, shard: ShardRecord, job: BatchJob) -> ShardRecord:
        await self._unblock(shard)
        self._view(shard, job.status.value)
        return self.store.update_shard(
            self.run_id, shard.shard_id, state="created", batch_id=job.id, batch_status=job.status
        )

    async def _requeue(
        self, shard: ShardRecord, reason: str, retry_after: float | None
    ) -> ShardRecord:
        if shard.requeues >= self.opts.max_requeues:
            await self._release(shard)
            await self._unblock(shard)
            return self.reconciler.fail_shard(shard, QuotaExceededError(reason))
        self.quota.block(shard.model or shard.endpoint, self._order.get(shard.shard_id, 0))
        delay = self._requeue_backoff.delay(shard.requeues, at_least=retry_after)
        log.warning(
            "shard %s: quota full (%s); resubmitting in %.0fs", shard.shard_id, reason, delay
        )
        self.progress.note(f"{shard.shard_id}: quota full, waiting {delay:.0f}s")
        shard = self.store.update_shard(
            self.run_id,
            shard.shard_id,
            state="uploaded",
            batch_id=None,
            batch_status=None,
            requeues=shard.requeues + 1,
            last_error=reason,
        )
        await self.clock.sleep(delay)
        return shard

    # -- quota -------------------------------------------------------------------------
    async def _acquire(self, shard: ShardRecord) -> None:
        if shard.shard_id in self._held:
            return
        key = shard.model or shard.endpoint
        await self.quota.acquire(key, shard.est_tokens, self._order.get(shard.shard_id, 0))
        self._held[shard.shard_id] = (key, shard.est_tokens)

    async def _release(self, shard: ShardRecord) -> None:
        held = self._held.pop(shard.shard_id, None)
        if held is not None:
            await self.quota.release(*held)

    # -- poll --------------------------------------------------------------------------
    async def _poll(self, shard: ShardRecord) -> ShardRecord:
        if shard.shard_id not in self._held:  # resumed while in flight: count it again
            key = shard.model or shard.endpoint
            self.quota.force_acquire(key, shard.est_tokens)
            self._held[shard.shard_id] = (key, shard.est_tokens)
        batch_id = str(shard.batch_id)
        interval: float | None = None
        last: tuple[object, ...] | None = None
        phase_since = self.clock.now()
        stalled = False
        while True:
            job = await self.call(f"poll {batch_id}", lambda: self.backend.retrieve_batch(batch_id))
            seen = (job.status, job.request_counts)
            if last is None or job.status != last[0]:
                phase_since, stalled = self.clock.now(), False
            changed = seen != last
            last = seen
            self._view(shard, job.status.value, job)
            if job.status.is_terminal:
                return await self._terminal(shard, job)
            slow = self.clock.now() - phase_since > self.opts.poll.stall_timeout
            if job.status in (BatchStatus.VALIDATING, BatchStatus.FINALIZING) and slow:
                if not stalled:
                    shard = await self._stalled(shard, job)
                stalled = True
            interval = self.opts.poll.next_interval(interval, changed=changed)
            await self.clock.sleep(interval)

    async def _stalled(self, shard: ShardRecord, job: BatchJob) -> ShardRecord:
        msg = (
            f"shard {shard.shard_id}: batch {job.id} stalled in {job.status.value} for over "
            f"{self.opts.poll.stall_timeout:.0f}s"
        )
        log.warning(msg)
        self.progress.note(msg)
        if self.opts.on_stall != "cancel" or shard.cancel_reason is not None:
            return shard
        shard = self.store.update_shard(self.run_id, shard.shard_id, cancel_reason="stalled")
        await self.call(f"cancel {job.id}", lambda: self.backend.cancel_batch(job.id))
        return shard

    async def _terminal(self, shard: ShardRecord, job: BatchJob) -> ShardRecord:
        await self._release(shard)
        if job.status is BatchStatus.FAILED and any(
            e.code == "token_limit_exceeded" for e in job.errors
        ):
            reason = next(e.message for e in job.errors if e.code == "token_limit_exceeded")
            return await self._requeue(shard, reason, None)
        return self.store.update_shard(
            self.run_id,
            shard.shard_id,
            state="terminal",
            batch_status=job.status.value,
            output_file_id=job.output_file_id,
            error_file_id=job.error_file_id,
            last_error="; ".join(f"{e.code}: {e.message}" for e in job.errors) or None,
        )

    async def _finish(self, shard: ShardRecord) -> ShardRecord:
        job = await self.call(
            f"retrieve {shard.batch_id}", lambda: self.backend.retrieve_batch(str(shard.batch_id))
        )
        shard = self.reconciler.reconcile(shard, job)
        if self.opts.cleanup:
            await self._cleanup(shard)
        return shard

    async def _cleanup(self, shard: ShardRecord) -> None:
        for fid in (shard.file_id, shard.output_file_id, shard.error_file_id):
            if fid:
                await self._delete_quietly(fid)

    async def _delete_quietly(self, file_id: str) -> None:
        try:
            await self.call(f"delete {file_id}", lambda: self.backend.delete_file(file_id))
        except BackendError as exc:
            log.warning("could not delete file %s: %s", file_id, exc)

    def _view(self, shard: ShardRecord, status: str, job: BatchJob | None = None) -> None:
        counts = job.request_counts if job is not None else None
        self.progress.shard(
            ShardView(
                shard.shard_id,
                shard.rows,
                status,
                counts.completed if counts else 0,
                counts.failed if counts else 0,
            )
        )
