"""A worker: drives shards of any run in a shared store, alongside other workers.

``batchport worker --store URL`` runs :func:`work`. It claims one shard at a time
(:meth:`~batchport.store.RunStore.claim_next`: ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), up to ``concurrency`` at once, and drives each exactly as ``bp.run``
would: submit, poll, collect, and retry rows in child shards, which any worker may
claim next. Leases are renewed every ``ttl / 3`` seconds; a worker that dies loses
them, and another carries on from the shard's last committed step (a ``submitting``
shard is first looked up at the provider, so it is never submitted twice). The worker
that settles a run's last shard marks the run done.

A worker takes no run that a single driver (``bp.run``, ``batchport wait``) holds, and
no shard of a paused run. A run's own error (a provider refusing its input, results that
do not match) marks that run failed and the worker goes on; any other error (the
database gone) stops the worker, to be restarted by its supervisor: nothing it could
not commit is lost. It needs the credentials of every backend its runs use, in
its own environment: the store holds no secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from batchport.backends.base import Backend
from batchport.errors import BatchportError, ConfigError, RunError
from batchport.logs import redact_text
from batchport.runner.api import _backend_of, _record_failure
from batchport.runner.claims import DEFAULT_SHARD_TTL_S, ShardClaims, ShardLost, holder_gone
from batchport.runner.clock import Clock, SystemClock
from batchport.runner.engine import Engine, finish_run
from batchport.runner.options import RunOptions
from batchport.runner.progress import ProgressSink, choose_progress
from batchport.runner.wake import wakeups_for
from batchport.store import RunRecord, RunState, RunStore, ShardState, open_store

if TYPE_CHECKING:
    from batchport.webhooks import WebhookOptions

__all__ = ["WorkerStats", "finish_run", "pause", "serve", "unpause", "work"]

log = logging.getLogger("batchport.worker")

Key = tuple[str, str]


@dataclasses.dataclass(slots=True)
class WorkerStats:
    """What one worker did: shards it drove to an end, shards it let go unfinished (their
    run was paused) or lost to another driver, runs it closed."""

    shards: int = 0
    left: int = 0
    lost: int = 0
    runs_finished: int = 0
    failed_runs: list[str] = dataclasses.field(default_factory=list)


def pause(store: RunStore, run_id: str) -> None:
    """Stop every driver from taking the run's shards; jobs already at the provider go
    on there and are collected after :func:`unpause`."""
    store.get_run(run_id)
    store.update_run(run_id, paused_at=time.time())


def unpause(store: RunStore, run_id: str) -> None:
    store.get_run(run_id)
    store.update_run(run_id, paused_at=None)


class _Worker:
    def __init__(
        self,
        store: RunStore,
        *,
        concurrency: int,
        ttl: float,
        clock: Clock,
        progress: ProgressSink,
        backend_for: Callable[[RunRecord], Backend] | None,
        stats: WorkerStats | None = None,
        webhooks: WebhookOptions | None = None,
    ) -> None:
        self.store = store
        self.concurrency = concurrency
        self.clock = clock
        self.progress = progress
        self.backend_for = backend_for or _run_backend
        self.owns_backends = backend_for is None
        self.claims = ShardClaims(store, ttl=ttl)
        self.engines: dict[str, Engine] = {}
        self.running: dict[Key, asyncio.Task[None]] = {}
        self.lost: set[Key] = set()
        self.stats = stats if stats is not None else WorkerStats()
        self.webhooks = webhooks

    def engine(self, run_id: str) -> Engine:
        engine = self.engines.get(run_id)
        if engine is None:
            rec = self.store.get_run(run_id)
            backend = self.backend_for(rec)
            engine = Engine(
                self.store,
                run_id,
                backend,
                RunOptions.from_json(rec.options),
                clock=self.clock,
                progress=self.progress,
                claims=self.claims,
                wake=wakeups_for(self.store, run_id, self.clock, self.webhooks, backend),
            )
            self.engines[run_id] = engine
        return engine

    def start(self, run_id: str, shard_id: str) -> bool:
        try:
            engine = self.engine(run_id)
        except Exception as exc:  # no backend for it here (a missing key, say)
            log.error("run %s: cannot drive it here: %s", run_id, exc)
            self.claims.release(run_id, shard_id)
            _record_failure_safe(self.store, run_id, exc)  # no worker takes it until resumed
            self.stats.failed_runs.append(run_id)
            return False
        task = asyncio.ensure_future(engine.drive(shard_id))
        self.running[(run_id, shard_id)] = task
        log.info("shard %s/%s: driving", run_id, shard_id)
        return True

    def claim(self) -> int:
        """Claim shards up to the concurrency: first those of dead holders on this
        host (taken over at once), then any claimable one. How many were started."""
        started = 0
        if len(self.running) < self.concurrency:
            for shard in self.store.leased_shards():
                if len(self.running) >= self.concurrency:
                    break
                key = (shard.run_id, shard.shard_id)
                owner = shard.lease_owner
                if key in self.running or owner is None or owner == self.claims.owner:
                    continue
                if not holder_gone(owner):  # a live holder (the usual case): no query
                    continue
                run = self.store.get_run(shard.run_id)
                if run.paused_at is not None or run.state not in (
                    RunState.RUNNING,
                    RunState.CANCELLING,
                ):
                    continue
                if self.claims.claim(*key) and self.start(*key):
                    started += 1
        while len(self.running) < self.concurrency:
            now = time.time()
            got = self.store.claim_next(self.claims.owner, now=now, expires=now + self.claims.ttl)
            if got is None:
                break
            self.claims.adopt(got)
            started += self.start(got.run_id, got.shard_id)
        return started

    def on_lost(self, key: Key) -> None:
        engine = self.engines.get(key[0])
        if engine is not None:
            engine.lost(key)

    async def ended(self, key: Key, task: asyncio.Task[None]) -> None:
        run_id, shard_id = key
        engine = self.engines[run_id]
        lost = task.cancelled() or isinstance(task.exception(), ShardLost)
        try:
            await engine.shard_ended(shard_id, task)  # re-raises what stops the shard
        except BatchportError as exc:  # the run's own trouble: recorded, others go on
            log.error("run %s: shard %s failed: %s", run_id, shard_id, exc)
            _record_failure_safe(self.store, run_id, exc)
            self.stats.failed_runs.append(run_id)
            await self.close_engine(run_id)
            return
        if lost:
            log.warning("shard %s/%s: handed on to another driver", run_id, shard_id)
            self.stats.lost += 1
            return
        if not ShardState(self.store.get_shard(run_id, shard_id).state).is_final:
            self.stats.left += 1  # let go unfinished: its run was paused
            await self.close_engine(run_id)
            return
        self.stats.shards += 1
        try:
            if await finish_run(self.store, run_id, engine):
                self.stats.runs_finished += 1
        except RunError as err:
            log.error("%s", err)
            _record_failure_safe(self.store, run_id, err)
        await self.close_engine(run_id)

    async def close_engine(self, run_id: str) -> None:
        if any(k[0] == run_id for k in self.running):
            return
        engine = self.engines.pop(run_id, None)
        if engine is not None and self.owns_backends:
            with contextlib.suppress(Exception):
                await engine.backend.aclose()

    async def run(self, *, poll_s: float, idle_exit_s: float | None) -> WorkerStats:
        keep_alive = asyncio.ensure_future(self.claims.keep_alive(self.on_lost))
        idle_since: float | None = None
        try:
            while True:
                self.claim()
                if not self.running:
                    now = time.monotonic()
                    idle_since = idle_since if idle_since is not None else now
                    if idle_exit_s is not None and now - idle_since >= idle_exit_s:
                        return self.stats
                    await asyncio.sleep(poll_s)
                    continue
                idle_since = None
                done, _ = await asyncio.wait(
                    self.running.values(), timeout=poll_s, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    key = next(k for k, t in self.running.items() if t is task)
                    del self.running[key]
                    await self.ended(key, task)
        finally:
            keep_alive.cancel()
            for task in self.running.values():
                task.cancel()
            for task in (keep_alive, *self.running.values()):
                with contextlib.suppress(BaseException):
                    await task
            self.claims.close()
            for run_id in list(self.engines):
                engine = self.engines.pop(run_id)
                if self.owns_backends:
                    with contextlib.suppress(Exception):
                        await engine.backend.aclose()


def _record_failure_safe(store: RunStore, run_id: str, exc: BaseException) -> None:
    with contextlib.suppress(Exception):
        _record_failure(store, run_id, exc)


def _run_backend(rec: RunRecord) -> Backend:
    return _backend_of(rec, None)


async def work(
    store: RunStore,
    *,
    concurrency: int = 4,
    lease_ttl_s: float = DEFAULT_SHARD_TTL_S,
    poll_s: float = 2.0,
    idle_exit_s: float | None = None,
    clock: Clock | None = None,
    progress: bool | ProgressSink | None = False,
    backend_for: Callable[[RunRecord], Backend] | None = None,
    stats: WorkerStats | None = None,
    webhooks: WebhookOptions | None = None,
) -> WorkerStats:
    """Drive shards of any run in ``store`` until cancelled (or, with ``idle_exit_s``,
    until nothing was left to claim for that many seconds).

    ``concurrency`` shards are driven at once; ``poll_s`` (real seconds) is how often
    the store is asked for more work. Each run's backend is rebuilt from the settings it
    recorded, with this process's credentials, and closed when the worker is done with
    it; ``backend_for`` may hand out backends instead (the caller then closes them).
    ``stats``, if given, is added to as the worker goes (and returned). ``webhooks``
    (options without a secret) makes each shard's wait between polls end when
    ``batchport webhooks serve --store`` records an event for its job in the store, and
    polls otherwise every ``poll_fallback_s``.
    """
    if webhooks is not None and webhooks.secret is not None:
        raise ConfigError(
            "a worker does not serve webhooks itself: run `batchport webhooks serve --store` "
            "once, and give workers WebhookOptions() without a secret"
        )
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    worker = _Worker(
        store,
        concurrency=concurrency,
        ttl=lease_ttl_s,
        clock=clock or SystemClock(),
        progress=choose_progress(progress),
        backend_for=backend_for,
        stats=stats,
        webhooks=webhooks,
    )
    return await worker.run(poll_s=poll_s, idle_exit_s=idle_exit_s)


def database_error(exc: BaseException) -> bool:
    """An error of the database driver (a server gone, a failover), not batchport's."""
    return type(exc).__module__.split(".")[0] in ("psycopg", "sqlite3")


async def serve(
    store: str | None,
    *,
    reconnect_max_s: float = 60.0,
    stats: WorkerStats | None = None,
    **work_options: Any,
) -> WorkerStats:
    """:func:`work` on the store at ``store`` (a URL or directory; None: the
    environment's), reconnecting when the database goes away: the worker lets its shards
    go, waits (backing off to ``reconnect_max_s``), opens the store again and carries
    on. A failover costs the time it takes, never a row: every step was committed
    before the call it protects, and shards left ``submitting`` are looked up at the
    provider before anything is sent again. Returns the totals (``stats``, added to as
    it goes) when :func:`work` returns (``idle_exit_s``); runs until cancelled
    otherwise."""
    total = stats if stats is not None else WorkerStats()
    delay = 1.0
    while True:
        try:
            st, _ = open_store(store)
        except ConfigError as exc:  # cannot connect (yet)
            log.warning("store unavailable (%s); retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, reconnect_max_s)
            continue
        try:
            await work(st, stats=total, **work_options)
            return total
        except Exception as exc:
            if not database_error(exc):
                raise
            log.warning("store connection lost (%s); reconnecting in %.0fs",
                        redact_text(str(exc)).strip(), delay)  # fmt: skip
        finally:
            with contextlib.suppress(Exception):
                st.close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, reconnect_max_s)
