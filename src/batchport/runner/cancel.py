"""Cancelling a run: every live job is cancelled, finished rows are kept.

A shard whose submission was under way when a process died is looked up at the
provider first (its job may exist without being recorded) — but only by the process
that holds the run's lease; when another process drives the run, that driver adopts
what it submits and cancels it itself, on seeing the run cancelled.
"""

from __future__ import annotations

import contextlib
import logging
import os

from batchport.backends.base import Backend
from batchport.backends.models import Job, JobStatus
from batchport.errors import ConflictError, NotFoundError, RunError
from batchport.runner.api import _backend_of, _execute, _store
from batchport.runner.clock import Clock
from batchport.runner.engine import finding_spec, shard_spec
from batchport.runner.lease import DEFAULT_TTL_S, RunBusy, drive_with_lease
from batchport.runner.options import RunOptions
from batchport.runner.progress import ProgressSink
from batchport.runner.run import Run
from batchport.store import CancelReason, RunState, RunStore, ShardState, StoreLike

__all__ = ["cancel"]

log = logging.getLogger("batchport.runner")


async def cancel(
    run_id: str,
    *,
    backend: str | Backend | None = None,
    store: StoreLike = None,
    home: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    progress: bool | ProgressSink | None = None,
    wait: bool = True,
    lease_ttl_s: float = DEFAULT_TTL_S,
) -> Run:
    """Cancel every live shard of a run. Finished rows are kept; the rest end
    ``cancelled``.

    When no other process drives the run, a shard whose submission was under way when
    a process died is first looked up at the provider (its job may exist without being
    recorded), then cancelled; with ``wait`` (the default) this process then drives the
    run to its end (polling the cancelled jobs, reading partial results). When another
    process drives it, the recorded jobs are cancelled and that process, which sees
    the run cancelled, settles the rest; this returns at once. ``wait=False`` never
    drives the run.
    """
    st, owned_store = _store(store, home)
    try:
        rec = st.find_run(run_id)
        if rec is None:
            raise RunError(f"no run {run_id!r} in {st.location}")
        if rec.state in (RunState.RUNNING, RunState.FAILED):
            st.update_run(run_id, expect=rec.state, state=RunState.CANCELLING)
        if rec.state not in (RunState.DONE, RunState.CANCELLED):
            opts = RunOptions.from_json(rec.options)
            be = _backend_of(rec, backend)
            owned = not isinstance(backend, Backend)

            async def cancel_and_drive() -> None:
                await _cancel_jobs(st, run_id, be, opts, adopt=True)
                if wait:
                    await _execute(st, run_id, be, opts, clock, progress)

            try:
                await drive_with_lease(st, run_id, cancel_and_drive, ttl=lease_ttl_s)
            except RunBusy as busy:  # its driver adopts what it submits, and settles
                log.info("run %s: %s; cancelling its recorded jobs only", run_id, busy)
                await _cancel_jobs(st, run_id, be, opts, adopt=False)
            finally:
                if owned:
                    await be.aclose()
    except BaseException:
        if owned_store:
            st.close()
        raise
    return Run(st, run_id, owns_store=owned_store)


async def _cancel_jobs(
    store: RunStore, run_id: str, backend: Backend, opts: RunOptions, *, adopt: bool
) -> None:
    for shard in store.shards(run_id):
        job: Job | None = None
        if shard.state == ShardState.SUBMITTING and adopt:  # created but maybe never recorded
            spec = finding_spec(store, shard_spec(store, shard, opts))
            job = await backend.find(spec, shard.staged())
            if job is not None:
                shard = store.update_shard(
                    run_id,
                    shard.shard_id,
                    expect=ShardState.SUBMITTING,
                    state=ShardState.SUBMITTED,
                    job_id=job.id,
                    job_status=job.status.value,
                )
        elif shard.state == ShardState.SUBMITTED and shard.job_id:
            job = Job(shard.job_id, JobStatus(shard.job_status or JobStatus.UNKNOWN))
        if job is None:
            continue
        store.update_shard(run_id, shard.shard_id, cancel_reason=CancelReason.USER)
        # ConflictError: it finished meanwhile; its rows are kept as they are
        with contextlib.suppress(ConflictError, NotFoundError):
            await backend.cancel(job)
