"""The engine: drives every shard of a run to a reconciled end.

A shard moves through the lifecycle in :mod:`batchport.store.states`::

    planned -> submitting -> submitted -> finished -> reconciled   (or abandoned)

``submitting`` is the intent, committed before anything is sent; what the backend
does on the way (an upload) goes into the shard's checkpoint as it happens. After a
crash a ``submitting`` shard first asks the backend to :meth:`~Backend.find` its job,
so no shard is submitted twice. A job the provider refuses for quota sends the shard
back to ``planned`` with a backoff. Rows that come back retryable move into a child
shard (``s0003-2``), up to ``max_attempts`` submissions per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Mapping

import orjson

from batchport.backends.base import Backend
from batchport.backends.models import ALL_MODELS, Job, JobStatus, ShardSpec
from batchport.errors import (
    AuthenticationError,
    BackendError,
    ConflictError,
    NotFoundError,
    QuotaExceededError,
    RunError,
)
from batchport.runner.claims import ShardClaims, ShardLost
from batchport.runner.clock import Clock
from batchport.runner.collect import Collector
from batchport.runner.deadline import is_realtime
from batchport.runner.fallback import DeadlineRunner
from batchport.runner.options import RunOptions
from batchport.runner.policy import Backoff, PollPolicy, QuotaGate
from batchport.runner.progress import ProgressSink, ShardView
from batchport.runner.retry import Retrier
from batchport.runner.wake import Wakeups
from batchport.store import (
    CancelReason,
    IllegalTransition,
    RunState,
    RunStore,
    ShardRecord,
    ShardState,
)

__all__ = ["TAGS", "Engine", "finding_spec", "finish_run", "shard_spec"]

log = logging.getLogger("batchport.runner")

TAG_RUN, TAG_SHARD, TAG_HASH, TAG_SUBMIT = (
    "batchport_run",
    "batchport_shard",
    "batchport_hash",
    "batchport_submit",
)
TAGS = (TAG_RUN, TAG_SHARD, TAG_HASH, TAG_SUBMIT)
_SLOW_STATES = frozenset({JobStatus.VALIDATING, JobStatus.FINALIZING, JobStatus.UNKNOWN})


def shard_spec(store: RunStore, shard: ShardRecord, opts: RunOptions) -> ShardSpec:
    """What a backend is handed for ``shard``: its blob, sizes and the tags that let a
    job submitted before a crash be found again."""
    blobs, key = store.blobs, shard.input_key
    return ShardSpec(
        run_id=shard.run_id,
        shard_id=shard.shard_id,
        endpoint=shard.endpoint,
        model=shard.model,
        rows=shard.rows,
        bytes=shard.bytes,
        content_hash=shard.content_hash,
        open=lambda: blobs.open(key),
        tags={
            **opts.metadata,
            TAG_RUN: shard.run_id,
            TAG_SHARD: shard.shard_id,
            TAG_HASH: shard.content_hash,
            TAG_SUBMIT: str(shard.requeues),
        },
        submit=shard.requeues,
        caller_model=shard.caller_model,
        completion_window=opts.completion_window,
        file_expires_after_s=opts.file_expires_after_s,
    )


def finding_spec(store: RunStore, spec: ShardSpec) -> ShardSpec:
    """``spec`` to look its job up with: the jobs of the run's other shards set aside
    (:attr:`ShardSpec.other_jobs`), so that a look-up by shape never adopts a sibling's."""
    others = frozenset(
        s.job_id for s in store.shards(spec.run_id) if s.job_id and s.shard_id != spec.shard_id
    )
    return dataclasses.replace(spec, other_jobs=others)


class ShardCheckpoint:
    """A shard's checkpoint column as the backend's :class:`Checkpoint`."""

    def __init__(self, store: RunStore, shard: ShardRecord) -> None:
        self._store = store
        self._key = (shard.run_id, shard.shard_id)
        self.values = shard.staged()

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = value
        self._store.update_shard(*self._key, checkpoint=orjson.dumps(self.values).decode())


class Engine:
    def __init__(
        self,
        store: RunStore,
        run_id: str,
        backend: Backend,
        options: RunOptions,
        *,
        clock: Clock,
        progress: ProgressSink,
        claims: ShardClaims | None = None,
        wake: Wakeups | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.backend = backend
        self.wake = wake
        hint = backend.poll_interval_hint
        if wake is not None:  # webhooks: a long fallback interval, whatever the hint
            options = dataclasses.replace(options, poll=wake.poll_policy(options.poll))
        elif hint is not None and options.poll == PollPolicy():  # the run left polling default
            poll = PollPolicy(interval=hint, max_interval=max(1.0, hint * 20))
            options = dataclasses.replace(options, poll=poll)
        self.opts = options
        self.clock = clock
        self.progress = progress
        self.limits = {**backend.quota_limits(), **options.quota_limits()}
        self.quota = QuotaGate(self.limits)
        self.retry = Retrier(clock, options.api_retries)
        self._own_claims = claims is None
        self.claims = claims if claims is not None else ShardClaims(store)
        # real seconds between looks at shards other drivers hold
        self._recheck_s = min(5.0, self.claims.ttl / 3)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._lost_shards: set[str] = set()
        self._requeue_backoff = Backoff(
            base=options.requeue_base_s, factor=2.0, cap=options.requeue_cap_s
        )
        self._held: dict[str, tuple[str, int]] = {}
        # admission order per shard: planned shards first, children as they are made
        self._order = {s.shard_id: i for i, s in enumerate(store.shards(run_id))}
        self._until: ShardState | None = None
        self.collector = Collector(
            store, run_id, backend, self.opts, progress, self.retry, spec_of=self.spec
        )
        self.deadline: DeadlineRunner | None = None
        if options.deadline is not None:  # a shard that cannot make it falls back to realtime
            self.deadline = DeadlineRunner(
                store, run_id, backend, self.opts, clock=clock, progress=progress,
                retry=self.retry, collector=self.collector,
            )  # fmt: skip

    # -- top level -------------------------------------------------------------------
    async def execute(self, *, until: ShardState | None = None) -> None:
        """Drive every unfinished shard of the run (and the children they spawn) to the
        end, or only until each is in state ``until`` (``SUBMITTED``: submit and
        return). A shard another driver holds (a worker) is left to it and waited for;
        one whose holder is gone is taken over."""
        self._until = until
        running: dict[str, asyncio.Task[None]] = {}
        keep_alive = asyncio.ensure_future(self.claims.keep_alive(self.lost))
        worked = False
        try:
            while True:
                open_ = self._open_shards(until)
                if not open_ and not running:
                    break
                waiting_on_others = self._claim_more(open_, running)
                worked = worked or bool(running)
                if not running:  # others hold every open shard, or the run is paused
                    await asyncio.sleep(self._recheck_s)
                    continue
                done, _ = await asyncio.wait(
                    running.values(),
                    timeout=self._recheck_s if waiting_on_others else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    shard_id = next(k for k, t in running.items() if t is task)
                    del running[shard_id]
                    await self.shard_ended(shard_id, task)
        finally:
            keep_alive.cancel()
            for task in running.values():
                task.cancel()
            for task in (keep_alive, *running.values()):
                with contextlib.suppress(BaseException):
                    await task
            if self._own_claims:
                self.claims.close()
        if until is None and worked:
            await self.sweep()

    def _open_shards(self, until: ShardState | None) -> list[str]:
        """The ids of the run's unfinished shards (not yet in ``until``), in admission
        order: as recorded, children after their parents. Only their ids and states
        are read, each time a shard ends: a run of a thousand shards would otherwise
        read a million shard records over its course."""
        shards = self.store.open_shards(self.run_id)
        for shard_id, _ in shards:  # children, recorded later, are numbered when first seen
            self._order.setdefault(shard_id, len(self._order))
        return [shard_id for shard_id, state in shards if state != until]

    def _claim_more(self, open_: list[str], running: dict[str, asyncio.Task[None]]) -> bool:
        """Start driving open shards this driver can claim, up to
        ``max_concurrent_shards`` at once; True when some are left to other drivers."""
        others = False
        paused = self.store.get_run(self.run_id).paused_at is not None
        for shard_id in open_:
            if shard_id in running:
                continue
            if paused or len(running) >= self.opts.max_concurrent_shards:
                others = others or paused
                continue
            if self.claims.holds(self.run_id, shard_id) or self.claims.claim(self.run_id, shard_id):
                running[shard_id] = asyncio.ensure_future(self.drive(shard_id))
            else:
                others = True
        return others

    async def shard_ended(self, shard_id: str, task: asyncio.Task[None]) -> None:
        """A shard's drive ended: a lost lease is another driver's business; any other
        error stops the run (it can be resumed)."""
        lost = task.cancelled() and shard_id in self._lost_shards
        if task.cancelled() and not lost:
            raise asyncio.CancelledError
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, ShardLost):
            log.warning("%s", exc)
            lost = True
        elif exc is not None:
            raise exc
        if lost:
            self._lost_shards.discard(shard_id)
            held = self._held.pop(shard_id, None)
            if held is not None:
                await self.quota.release(*held)

    def lost(self, key: tuple[str, str]) -> None:
        """Another driver took a shard over: stop driving it here."""
        run_id, shard_id = key
        task = self._tasks.get(shard_id) if run_id == self.run_id else None
        if task is not None and not task.done():
            self._lost_shards.add(shard_id)
            task.cancel()

    async def drive(self, shard_id: str) -> None:
        """Drive one shard (whose lease this driver holds) until it is final, reaches
        the state the run stops at, or its run is paused; then give its lease up."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks[shard_id] = task
        try:
            shard = self.store.get_shard(self.run_id, shard_id)
            while not ShardState(shard.state).is_final and shard.state != self._until:
                if self._paused():
                    log.info("shard %s: run paused; leaving the shard", shard_id)
                    break
                shard = await self._step(shard)
            await self._release(shard)
        finally:
            self._tasks.pop(shard_id, None)
            self.claims.release(self.run_id, shard_id)

    async def _step(self, shard: ShardRecord) -> ShardRecord:
        state = ShardState(shard.state)
        if self.deadline is not None and is_realtime(shard):  # a deadline's fallback
            return await self.deadline.serve(shard)
        if state in (ShardState.PLANNED, ShardState.SUBMITTING):
            if self._run_cancelled():
                return await self._cancelled_before_job(shard)
            return await self._submit(shard)
        if state is ShardState.SUBMITTED:
            return await self._poll(shard)
        if state is ShardState.FINISHED:
            return await self._collect(shard)
        raise AssertionError(f"no step from shard state {state!r}")

    def _paused(self) -> bool:
        return self.store.get_run(self.run_id).paused_at is not None

    def _run_cancelled(self) -> bool:
        return self.store.get_run(self.run_id).state in (RunState.CANCELLING, RunState.CANCELLED)

    async def sweep(self) -> int:
        """Delete what a crash left at the provider for this run (best effort)."""
        keep = {v for s in self.store.shards(self.run_id) for v in s.staged().values()}
        try:
            return await self.retry.call("sweep", lambda: self.backend.sweep(self.run_id, keep))
        except BackendError as exc:
            log.warning("could not sweep leftovers of run %s: %s", self.run_id, exc)
            return 0

    # -- submit ------------------------------------------------------------------------
    def spec(self, shard: ShardRecord) -> ShardSpec:
        return shard_spec(self.store, shard, self.opts)

    async def _find(self, spec: ShardSpec, checkpoint: Mapping[str, str]) -> Job | None:
        spec = finding_spec(self.store, spec)
        return await self.retry.call(
            f"find {spec.shard_id}", lambda: self.backend.find(spec, checkpoint)
        )

    async def _find_patiently(self, spec: ShardSpec, checkpoint: ShardCheckpoint) -> Job | None:
        """After a submit whose answer was lost, look for its job over a window
        (``adopt_window_s``, with backoff): a provider's listing can lag behind a
        create, and submitting again too soon would leave two paid jobs. A backend
        that cannot look jobs up answers None at once."""
        if type(self.backend).find is Backend.find:
            return None
        spec = finding_spec(self.store, spec)
        waited, delay = 0.0, 1.0
        while True:
            try:
                found = await self.backend.find(spec, checkpoint.values)
            except BackendError as exc:  # a failed listing is one look less, not the end
                if not exc.retryable or waited >= self.opts.adopt_window_s:
                    raise
                log.warning("looking for the job of %s failed (%s)", spec.shard_id, exc)
                found = None
            if found is not None or waited >= self.opts.adopt_window_s:
                return found
            step = min(delay, self.opts.adopt_window_s - waited)
            await self.clock.sleep(step)
            waited, delay = waited + step, min(delay * 2, 10.0)

    async def _cancelled_before_job(self, shard: ShardRecord) -> ShardRecord:
        if shard.state == ShardState.SUBMITTING:  # a job may exist that was never recorded
            found = await self._find(self.spec(shard), shard.staged())
            if found is not None:
                shard = self._record_job(shard, found, cancel_reason=CancelReason.USER)
                await self.retry.call(f"cancel {found.id}", lambda: self.backend.cancel(found))
                return shard
        return self.collector.abandon(shard)

    async def _submit(self, shard: ShardRecord) -> ShardRecord:
        spec = self.spec(shard)
        if shard.state == ShardState.SUBMITTING:  # resumed, or requeued: adopt, never repeat
            found = await self._find(spec, shard.staged())
            if found is not None:
                log.info("shard %s: adopted job %s", shard.shard_id, found.id)
                return await self._submitted(shard, found)
        else:
            shard = self.store.update_shard(
                self.run_id, shard.shard_id, expect=ShardState.PLANNED, state=ShardState.SUBMITTING
            )
        checkpoint = ShardCheckpoint(self.store, shard)
        await self.retry.call(
            f"stage {shard.shard_id}", lambda: self.backend.stage(spec, checkpoint)
        )
        key, order = self._key(shard), self._order.get(shard.shard_id, 0)
        await self._acquire(shard)
        # one submit at a time per model, in shard order: a refused shard keeps its place
        async with self.quota.turn(key, order):
            try:
                job = await self.retry.call(
                    f"submit {shard.shard_id}",
                    lambda: self._create(spec, checkpoint),
                    recover=lambda: self._find_patiently(spec, checkpoint),
                )
            except QuotaExceededError as exc:
                job = Job("", JobStatus.FAILED, requeue=str(exc), retry_after=exc.retry_after)
            except BackendError as exc:
                # refused credentials are no fault of the shard: every shard would fail
                # alike, so the run stops with the rows unsettled, to be resumed
                if exc.retryable or isinstance(exc, AuthenticationError):
                    raise
                await self._release(shard)
                await self.quota.unblock(key, order)
                return self.collector.fail_shard(shard, exc)
            if job.requeue is not None:  # later shards of this model wait behind it
                self.quota.block(key, order)
        if job.requeue is not None:
            return await self._requeue(shard, job.requeue, job.retry_after)
        return await self._submitted(shard, job, created=True)

    async def _create(self, spec: ShardSpec, checkpoint: ShardCheckpoint) -> Job:
        """Submit, once sure this driver still holds the shard: a driver that stalled
        past its lease must not create a job for a shard another driver took over."""
        self.claims.confirm(self.run_id, spec.shard_id)
        return await self.backend.submit(spec, checkpoint)

    async def _submitted(
        self, shard: ShardRecord, job: Job, *, created: bool = False
    ) -> ShardRecord:
        await self.quota.unblock(self._key(shard), self._order.get(shard.shard_id, 0))
        self._view(shard, job.status.value, job)
        try:
            return self._record_job(shard, job)
        except IllegalTransition:
            if not created:
                raise
            # another driver took the shard over meanwhile and recorded its own job:
            # this one is a duplicate, cancel it before it costs anything
            log.warning("shard %s: taken over while submitting; cancelling job %s",
                        shard.shard_id, job.id)  # fmt: skip
            with contextlib.suppress(BackendError):
                await self.retry.call(f"cancel {job.id}", lambda: self.backend.cancel(job))
            raise ShardLost(f"shard {self.run_id}/{shard.shard_id} was taken over") from None

    def _record_job(self, shard: ShardRecord, job: Job, **extra: str) -> ShardRecord:
        return self.store.update_shard(
            self.run_id,
            shard.shard_id,
            expect=ShardState.SUBMITTING,
            state=ShardState.SUBMITTED,
            job_id=job.id,
            job_status=job.status.value,
            **extra,
        )

    async def _requeue(
        self, shard: ShardRecord, reason: str, retry_after: float | None, *, backoff: bool = True
    ) -> ShardRecord:
        key, order = self._key(shard), self._order.get(shard.shard_id, 0)
        if shard.requeues >= self.opts.max_requeues:
            await self._release(shard)
            await self.quota.unblock(key, order)
            return self.collector.fail_shard(shard, QuotaExceededError(reason))
        self.quota.block(key, order)
        delay = (
            self._requeue_backoff.delay(shard.requeues, at_least=retry_after) if backoff else 0.0
        )
        if backoff:
            log.warning(
                "shard %s: quota full (%s); resubmitting in %.0fs", shard.shard_id, reason, delay
            )
            self.progress.note(f"{shard.shard_id}: quota full, waiting {delay:.0f}s")
        shard = self.store.update_shard(
            self.run_id,
            shard.shard_id,
            expect=shard.state,
            state=ShardState.PLANNED,
            job_id=None,
            job_status=None,
            requeues=shard.requeues + 1,
            last_error=reason,
        )
        await self.clock.sleep(delay)
        return shard

    # -- quota -------------------------------------------------------------------------
    def _key(self, shard: ShardRecord) -> str:
        if shard.model not in self.limits and shard.caller_model in self.limits:
            return str(shard.caller_model)
        if shard.model not in self.limits and ALL_MODELS in self.limits:
            return ALL_MODELS
        return shard.model or shard.caller_model or shard.endpoint

    def _amount(self, key: str, shard: ShardRecord) -> int:
        """What the shard counts against ``key``'s limit: tokens, or requests."""
        limit = self.limits.get(key)
        return shard.rows if limit is not None and limit.unit == "requests" else shard.est_tokens

    async def _acquire(self, shard: ShardRecord) -> None:
        if shard.shard_id in self._held:
            return
        key = self._key(shard)
        amount = self._amount(key, shard)
        await self.quota.acquire(key, amount, self._order.get(shard.shard_id, 0))
        self._held[shard.shard_id] = (key, amount)
        await self._hold_shared(shard, key, amount)

    async def _hold_shared(self, shard: ShardRecord, key: str, amount: int) -> None:
        """Count the shard against the quota every driver on this store shares (other
        runs, other workers); wait, on the run's clock, while it does not fit."""
        limit = self.limits.get(key)
        cap = None if limit is None or limit.dynamic else limit.tokens
        delay = 1.0
        while not self.store.hold_quota(
            self.run_id, shard.shard_id, key, amount, cap, now=self.clock.now()
        ):
            self.progress.note(f"{shard.shard_id}: {key} quota full across the store, waiting")
            await self.clock.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _release(self, shard: ShardRecord) -> None:
        """The shard no longer counts against this driver's quota gate; its shared
        hold goes too unless its job is still at the provider (it stopped being
        driven here while in flight: the next driver goes on counting it)."""
        held = self._held.pop(shard.shard_id, None)
        if held is not None:
            await self.quota.release(*held)
            if shard.state != ShardState.SUBMITTED:
                self.store.release_quota(self.run_id, shard.shard_id)

    # -- poll --------------------------------------------------------------------------
    async def _poll(self, shard: ShardRecord) -> ShardRecord:
        if shard.shard_id not in self._held:  # resumed while in flight: count it again
            key = self._key(shard)
            amount = self._amount(key, shard)
            self.quota.force_acquire(key, amount)
            self._held[shard.shard_id] = (key, amount)
            self.store.hold_quota(
                self.run_id, shard.shard_id, key, amount, None, now=self.clock.now(), force=True
            )
        job = Job(str(shard.job_id), JobStatus(shard.job_status or JobStatus.UNKNOWN))
        interval: float | None = None
        last: tuple[object, ...] | None = None
        phase_since = self.clock.now()
        stalled = False
        while True:
            if self._paused():  # let the shard go; its job goes on at the provider
                return shard
            job = await self.retry.call(f"poll {job.id}", functools.partial(self.backend.poll, job))
            if last is None or job.status != last[0]:
                phase_since, stalled = self.clock.now(), False
            seen = (job.status, job.counts)
            changed, last = seen != last, seen
            self._view(shard, job.status.value, job)
            if job.status.is_terminal:
                return await self._terminal(shard, job)
            if shard.cancel_reason is None and self._run_cancelled():
                shard = await self._cancel_job(shard, job)  # cancelled while in flight
            if self.deadline is not None:
                shard = await self.deadline.watch(shard, job)
            slow = self.clock.now() - phase_since > self.opts.poll.stall_timeout
            if job.status in _SLOW_STATES and slow:
                if not stalled:
                    shard = await self._stalled(shard, job)
                stalled = True
            interval = self.opts.poll.next_interval(interval, changed=changed)
            if job.retry_after is not None:
                interval = max(interval, job.retry_after)
            if self.wake is None:
                await self.clock.sleep(interval)
            else:  # ends early when a webhook says the job changed: poll it at once
                await self.wake.wait(shard, job.id, interval)

    async def _cancel_job(self, shard: ShardRecord, job: Job) -> ShardRecord:
        reason = CancelReason.USER
        shard = self.store.update_shard(self.run_id, shard.shard_id, cancel_reason=reason)
        # ConflictError: it finished meanwhile; its rows are kept as they are
        with contextlib.suppress(ConflictError, NotFoundError):
            await self.retry.call(f"cancel {job.id}", lambda: self.backend.cancel(job))
        return shard

    async def _stalled(self, shard: ShardRecord, job: Job) -> ShardRecord:
        msg = (
            f"shard {shard.shard_id}: job {job.id} stalled in {job.status.value} for over "
            f"{self.opts.poll.stall_timeout:.0f}s"
        )
        log.warning(msg)
        self.progress.note(msg)
        if self.opts.on_stall != "cancel" or shard.cancel_reason is not None:
            return shard
        shard = self.store.update_shard(
            self.run_id, shard.shard_id, cancel_reason=CancelReason.STALLED
        )
        await self.retry.call(f"cancel {job.id}", lambda: self.backend.cancel(job))
        return shard

    async def _terminal(self, shard: ShardRecord, job: Job) -> ShardRecord:
        await self._release(shard)
        if job.restage:  # what was staged is gone at the provider: stage it again
            log.warning("shard %s: %s; uploading it again", shard.shard_id, job.requeue)
            self.progress.note(f"{shard.shard_id}: input gone at the provider, sending it again")
            shard = self.store.update_shard(self.run_id, shard.shard_id, checkpoint="{}")
            return await self._requeue(shard, str(job.requeue), 0.0, backoff=False)
        if job.requeue is not None:
            return await self._requeue(shard, job.requeue, job.retry_after)
        return self.store.update_shard(
            self.run_id,
            shard.shard_id,
            expect=ShardState.SUBMITTED,
            state=ShardState.FINISHED,
            job_status=job.status.value,
            job=orjson.dumps(job.summary()).decode(),
            last_error="; ".join(f"{e.code}: {e.message}" for e in job.errors) or None,
        )

    # -- results -----------------------------------------------------------------------
    async def _collect(self, shard: ShardRecord) -> ShardRecord:
        summary = shard.job_summary()
        job = Job.from_summary(summary) if summary else Job(str(shard.job_id), JobStatus.UNKNOWN)
        shard = await self.collector.collect(shard, job)
        if self.opts.cleanup:
            try:
                await self.retry.call(
                    f"release {shard.shard_id}",
                    lambda: self.backend.release(job, shard.staged()),
                )
            except BackendError as exc:
                log.warning("could not clean up shard %s: %s", shard.shard_id, exc)
        return shard

    def _view(self, shard: ShardRecord, status: str, job: Job | None = None) -> None:
        counts = job.counts if job is not None else None
        self.progress.shard(
            ShardView(
                shard.shard_id,
                shard.rows,
                status,
                counts.completed if counts else 0,
                counts.failed if counts else 0,
            )
        )


async def finish_run(store: RunStore, run_id: str, engine: Engine | None = None) -> bool:
    """Close a run whose shards are all final: sweep what is left at the provider and
    mark it done (or cancelled). True when this call closed it; False when a shard is
    still open, or another driver closed it first."""
    rec = store.get_run(run_id)
    if rec.state not in (RunState.RUNNING, RunState.CANCELLING):
        return False
    if any(not ShardState(s.state).is_final for s in store.shards(run_id)):
        return False
    if store.outcome_counts(run_id).get(None):
        raise RunError(f"run {run_id} ended with unsettled rows; resume it to finish")
    if engine is not None:
        await engine.sweep()
    final = RunState.CANCELLED if rec.state == RunState.CANCELLING else RunState.DONE
    try:
        store.update_run(run_id, expect=rec.state, state=final, error=None)
    except IllegalTransition:
        return False
    log.info("run %s: %s", run_id, final.value)
    return True
