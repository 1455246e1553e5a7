"""The deadline's fallback: a shard's unfinished rows served through the realtime API.

When :class:`~batchport.runner.deadline.DeadlineWatch` says a shard cannot finish in
batch, :meth:`DeadlineRunner.watch` cancels its job (reason ``deadline``). The
collector then settles every row the batch finished and moves the others into a child
shard marked as served realtime (``{"batchport_route": "realtime"}`` in its checkpoint,
a column no backend touches for a shard it never sees). So the fallback is a normal
shard in the store, and :meth:`DeadlineRunner.serve` drives it instead of a submit::

    planned -> submitting (intent: rows go out realtime) -> reconciled

Why a child shard: it is what the runner already does with rows worth another try, so
``resume`` finds the fallback like any unfinished shard, the rows' move and the
parent's reconciliation commit together, and ``settle_rows`` (which only settles
unsettled rows) makes a row's outcome final whichever route answers it. It needs no
new state, no new store column and no new lifecycle edge.

Each row is settled (route ``realtime`` or ``flex``) as answers come in, in small
chunks (a result blob and one ledger commit at most every ``FLUSH_S`` seconds or
``FLUSH_ROWS`` rows), so a crash re-sends only rows not yet settled: at most the last
chunk's answers are asked again. A row the realtime route fails is final (the
executor has retried it already); outcomes are judged by the backend's own code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from batchport.backends.base import Backend, RealtimeAccess
from batchport.backends.models import Job, JobStatus, Outcome, ResultRow
from batchport.errors import ConfigError, ConflictError, NotFoundError
from batchport.pricing import PriceTable
from batchport.requests import Request
from batchport.runner.clock import Clock
from batchport.runner.collect import Collector, _Verdict, encode_result
from batchport.runner.collect import _settled as settled_row
from batchport.runner.deadline import (
    ROUTE_KEY,
    DeadlineWatch,
    is_realtime,
    realtime_rate,
    route_checkpoint,
)
from batchport.runner.options import RunOptions
from batchport.runner.progress import ProgressSink, ShardView
from batchport.runner.retry import Retrier
from batchport.store import (
    CancelReason,
    PendingRow,
    RunState,
    RunStore,
    Settlement,
    ShardRecord,
    ShardState,
    result_prefix,
)
from batchport.store.base import RESULT_SUFFIX
from batchport.tokens import estimate_input_tokens, estimate_output_tokens

__all__ = [
    "FLEX_MODELS",
    "ROUTE_KEY",
    "DeadlineRunner",
    "check_fallback",
    "fallback_drivers",
    "is_realtime",
    "route_checkpoint",
]

if TYPE_CHECKING:
    from batchport.realtime.limits import RateLimiter

log = logging.getLogger("batchport.runner")

#: how often (seconds on the run's clock, at most) the drivers serving a run's fallback
#: are counted again while requests go out, for each to take its share of the limits
SHARE_EVERY_S = 5.0

#: model families OpenAI offers ``service_tier="flex"`` for (others go standard): "GPT-5,
#: o3 and o4-mini" per OpenAI's flex processing guide (2025; beta, may widen)
FLEX_MODELS = ("o3", "o4-mini", "gpt-5")
_NOT_FLEX = ("o3-mini",)
FLUSH_S = 2.0
FLUSH_ROWS = 32


def flex_model(model: str | None) -> bool:
    """Whether ``model`` (or a dated snapshot of it) is offered on the flex tier."""
    if not model or any(model == m or model.startswith(m + "-") for m in _NOT_FLEX):
        return False
    return any(model == m or model.startswith(m + "-") for m in FLEX_MODELS)


async def check_fallback(backend: Backend, opts: RunOptions) -> None:
    """Refuse a deadline the backend cannot fall back for, before anything is sent.

    Raises:
        ConfigError: the backend has no realtime route.
    """
    if opts.deadline is None:
        return
    if await backend.realtime() is None:
        raise ConfigError(
            f"backend {backend.name!r} has no realtime route to fall back to, so it cannot "
            "keep a deadline; run without deadline="
        )


@dataclass(frozen=True, slots=True)
class _RowCost:
    """A shard family's per-row estimates: tokens and USD at batch and realtime price."""

    tokens: float
    batch_usd: float
    realtime_usd: float
    priced: bool


class DeadlineRunner:
    """The engine's deadline: :meth:`watch` in the poll loop, :meth:`serve` for the
    fallback shards. Built by the engine when the run has a deadline."""

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        backend: Backend,
        opts: RunOptions,
        *,
        clock: Clock,
        progress: ProgressSink,
        retry: Retrier,
        collector: Collector,
        prices: PriceTable | None = None,
    ) -> None:
        assert opts.deadline is not None
        self.store, self.run_id, self.backend, self.opts = store, run_id, backend, opts
        self.clock, self.progress, self.retry = clock, progress, retry
        self.collector = collector
        self.prices = prices or PriceTable.default()
        self.watcher = DeadlineWatch(
            opts.deadline, clock, self._rate_of, lookahead_s=opts.poll.max_interval
        )
        self._costs: dict[str, _RowCost] = {}
        self._warned: set[str] = set()
        self._recancelled: set[str] = set()
        self._access: RealtimeAccess | None = None
        self._limiter: RateLimiter | None = None  # one for every fallback shard of the run
        #: rows sent (or about to be) to the realtime route and not settled yet, by shard
        self._backlog: dict[str, int] = {}
        #: rows served realtime, and the seconds any fallback was running (measured rate)
        self._served: tuple[int, float] = (0, 0.0)
        self._active, self._active_since = 0, 0.0

    # -- deciding ----------------------------------------------------------------------
    def _family(self, shard_id: str) -> str:
        return shard_id.split("-")[0]

    def _row_cost(self, shard: ShardRecord) -> _RowCost:
        """Per-row averages over the shard's input (read once per shard family)."""
        key = self._family(shard.shard_id)
        cached = self._costs.get(key)
        if cached is not None:
            return cached
        n = inp = out = 0
        with self.store.blobs.open(shard.input_key) as fh:
            for line in fh:
                if not line.strip():
                    continue
                req = Request.from_json(line)
                n += 1
                inp += estimate_input_tokens(req.body, req.url)
                out += estimate_output_tokens(req.body, req.url)
        n = max(1, n)
        cost = self.prices.cost(
            shard.model if self.prices.lookup(shard.model) else shard.caller_model,
            input_tokens=inp,
            output_tokens=out,
        )
        est = _RowCost((inp + out) / n, cost.batch_usd / n, cost.realtime_usd / n, cost.priced)
        self._costs[key] = est
        return est

    def _rate_of(self, shard_id: str) -> float:
        """Realtime rows/s counted on: the configured limits' (module rule), capped by
        what the fallbacks so far measured."""
        o, p = self.opts, self.watcher.policy
        tokens = self._row_cost(self.store.get_shard(self.run_id, shard_id)).tokens
        rate = realtime_rate(rpm=o.realtime_rpm, tpm=o.realtime_tpm,
                             concurrency=o.realtime_concurrency, latency_s=p.latency_s,
                             tokens_per_row=tokens, safety=p.safety)  # fmt: skip
        rows, seconds = self._served
        if self._active:  # a fallback still running: its time so far counts too
            seconds += self.clock.now() - self._active_since
        if rows >= 2 * o.realtime_concurrency and seconds > 0:  # enough to measure
            rate = min(rate, p.safety * rows / seconds)
        return rate

    def _extra_usd(self, shard: ShardRecord, rows: int) -> float:
        """What serving ``rows`` of ``shard``'s family realtime adds over batch."""
        c = self._row_cost(shard)
        if self.opts.fallback == "flex" and flex_model(shard.model):
            return 0.0  # flex is priced as batch
        return rows * (c.realtime_usd - c.batch_usd)

    def over_budget(self, shard: ShardRecord, rows: int) -> str | None:
        """Why sending ``rows`` of ``shard`` realtime would break ``max_cost``, or None.
        Projected: the run's batch estimate, plus the extra of every fallback so far
        and of this one."""
        cap = self.opts.max_cost
        if cap is None:
            return None
        shards = self.store.shards(self.run_id)
        roots = [s for s in shards if s.parent_id is None]
        costs = [self._row_cost(s) for s in roots]
        if not all(c.priced for c in costs):
            return "a model has no price, so the fallback's cost cannot be checked"
        projected = sum(s.rows * c.batch_usd for s, c in zip(roots, costs, strict=True))
        projected += sum(self._extra_usd(s, s.rows) for s in shards if is_realtime(s))
        projected += self._extra_usd(shard, rows)
        if projected <= cap:
            return None
        return f"projected cost ${projected:,.4f} would exceed max_cost ${cap:,.4f}"

    async def watch(self, shard: ShardRecord, job: Job) -> ShardRecord:
        """Called at every poll of a submitted shard: cancel it for the deadline when
        this is the latest safe moment (and ``max_cost`` allows the fallback)."""
        if shard.cancel_reason == CancelReason.DEADLINE:  # decided before a crash:
            if shard.shard_id not in self._recancelled:  # make sure the cancel went out
                self._recancelled.add(shard.shard_id)
                if job.status is not JobStatus.CANCELLING:
                    await self._send_cancel(job)
            return shard
        if shard.cancel_reason is not None:  # the caller's or a stall's cancel
            return shard
        backlog = sum(n for k, n in self._backlog.items() if k != shard.shard_id)
        decision = self.watcher.observe(shard.shard_id, shard.rows, job, backlog)
        if decision is None:
            return shard
        why = self.over_budget(shard, decision.remaining)
        if why is not None:
            if shard.shard_id not in self._warned:
                self._warned.add(shard.shard_id)
                msg = (f"deadline: shard {shard.shard_id} will not finish in batch in time, "
                       f"but serving its {decision.remaining} row(s) realtime: {why}; "
                       "waiting in batch")  # fmt: skip
                log.warning(msg)
                self.progress.note(msg)
            return shard
        eta = decision.batch_eta_s - self.clock.now()
        msg = (f"deadline: shard {shard.shard_id} cannot finish in batch in time (batch needs "
               f"{_span(eta)}, {_span(self.watcher.left_s())} left); cancelling it and serving "
               f"its {decision.remaining} unfinished row(s) {self.opts.fallback} "
               f"(about {_span(decision.realtime_s)})")  # fmt: skip
        log.warning(msg)
        self.progress.note(msg)
        self.watcher.forget(shard.shard_id)
        self._backlog[shard.shard_id] = decision.remaining
        shard = self.store.update_shard(
            self.run_id, shard.shard_id, cancel_reason=CancelReason.DEADLINE
        )
        await self._send_cancel(job)
        return shard

    async def _send_cancel(self, job: Job) -> None:
        # ConflictError: it finished meanwhile; its rows are kept as they are
        with contextlib.suppress(ConflictError, NotFoundError):
            await self.retry.call(f"cancel {job.id}", lambda: self.backend.cancel(job))

    # -- serving -------------------------------------------------------------------------
    async def serve(self, shard: ShardRecord) -> ShardRecord:
        """Serve the fallback shard's unsettled rows realtime, settling each as it
        lands; resumable at any point (settled rows are never sent again)."""
        # imported here: the realtime package imports the runner's clock
        from batchport.realtime import RealtimeOptions, run_realtime
        from batchport.realtime.limits import RateLimiter

        if self._run_cancelled():
            return self.collector.abandon(shard)
        if self._access is None:
            self._access = await self.backend.realtime()
            if self._access is None:
                raise ConfigError(f"backend {self.backend.name!r} has no realtime route")
        if shard.state == ShardState.PLANNED:
            shard = self.store.update_shard(
                self.run_id, shard.shard_id, expect=ShardState.PLANNED, state=ShardState.SUBMITTING
            )
        pending = self.store.unsettled_of_shard(self.run_id, shard.shard_id)
        self.progress.shard(ShardView(shard.shard_id, shard.rows, "realtime"))
        self._backlog.pop(shard.parent_id or "", None)
        self._backlog[shard.shard_id] = len(pending)
        sink = _Sink(self.store, self.run_id, shard, self.clock, self.progress, self._backlog)
        route = shard.staged()[ROUTE_KEY]
        flex = route == "flex" and self._access.flex
        options = RealtimeOptions(
            concurrency=self.opts.realtime_concurrency,
            rpm=self.opts.realtime_rpm,
            tpm=self.opts.realtime_tpm,
        )
        if self._limiter is None:
            self._limiter = RateLimiter(options.rpm, options.tpm, self.clock)
            self._limiter.count_sharers(self._drivers, SHARE_EVERY_S)
        else:  # a shard more: others may have joined since the last count
            self._limiter.share(self._drivers())
        self._active += 1
        if self._active == 1:
            self._active_since = self.clock.now()
        with self.store.blobs.open(shard.input_key) as fh:
            rows = self._requests(fh, pending, flex, sink)
            try:
                await run_realtime(rows, client=self._access.client, options=options,
                                   clock=self.clock, on_row=sink.add, keep=False,
                                   limiter=self._limiter)  # fmt: skip
            finally:
                sink.flush()
                self._backlog.pop(shard.shard_id, None)
                self._active -= 1
                n, busy = self._served
                if self._active == 0:
                    busy += self.clock.now() - self._active_since
                self._served = (n + sink.done, busy)
        if self._run_cancelled():
            return self.collector.abandon(shard)
        left = self.store.unsettled_of_shard(self.run_id, shard.shard_id)
        with self.store.transaction():
            n = self.store.settle_rows(self.run_id, [_missing(r, route) for r in left])
            shard = self.store.update_shard(
                self.run_id,
                shard.shard_id,
                expect=ShardState.SUBMITTING,
                state=ShardState.RECONCILED,
            )
        self.progress.settled(n)
        self.progress.shard(ShardView(shard.shard_id, shard.rows, "realtime done", sink.done))
        return shard

    def _drivers(self) -> int:
        """How many drivers serve the run's fallback now, this one included: the
        distinct holders of live leases on its unfinished realtime shards. Each takes
        that share of ``realtime_rpm`` and ``realtime_tpm``, so workers sharing the run
        stay within the limits together. A count that fails keeps the last share."""
        try:
            shards = self.store.shards(self.run_id)
        except Exception as exc:  # the next store call reports a real outage
            log.warning("run %s: could not count the fallback's drivers: %s", self.run_id, exc)
            return self._limiter.shared_by if self._limiter is not None else 1
        return fallback_drivers(shards, time.time())  # leases go by wall-clock time

    def _requests(
        self, fh: BinaryIO, pending: list[PendingRow], flex: bool, sink: _Sink
    ) -> Iterator[Request]:
        """The pending rows' requests, streamed from the shard's input, in order; stops
        early when the run is cancelled."""
        by_pos = {r.pos: r for r in pending}
        for pos, line in enumerate(fh, 1):
            rec = by_pos.get(pos)
            if rec is None:
                continue
            if self._run_cancelled():
                return
            req = Request.from_json(line)
            route = "realtime"
            if flex and flex_model(req.model):
                req = dataclasses.replace(req, body={**req.body, "service_tier": "flex"})
                route = "flex"
            sink.take(rec, route)
            yield req

    def _run_cancelled(self) -> bool:
        state = self.store.get_run(self.run_id).state
        return state in (RunState.CANCELLING, RunState.CANCELLED)


def fallback_drivers(shards: Iterable[ShardRecord], now: float) -> int:
    """The distinct drivers holding a lease (live at unix time ``now``) on one of
    ``shards`` that is an unfinished fallback shard; at least 1, the caller."""
    owners = {
        s.lease_owner
        for s in shards
        if s.lease_owner is not None
        and (s.lease_expires or 0.0) > now
        and is_realtime(s)
        and not ShardState(s.state).is_final
    }
    return max(1, len(owners))


class _Sink:
    """Rows answered realtime, settled in chunks: each chunk's lines go to their own
    result blob (written whole), then its settlements commit."""

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        shard: ShardRecord,
        clock: Clock,
        progress: ProgressSink,
        backlog: dict[str, int],
    ) -> None:
        self.store, self.run_id, self.shard = store, run_id, shard
        self.clock, self.progress = clock, progress
        self.backlog = backlog
        self.taken: list[tuple[PendingRow, str]] = []
        self.ready: list[tuple[PendingRow, str, ResultRow]] = []
        self.last = clock.now()
        self.done = 0
        # chunks of an earlier (crashed) pass keep their own names
        self.tag = secrets.token_hex(3)
        self.chunks = 0

    def take(self, rec: PendingRow, route: str) -> None:
        self.taken.append((rec, route))

    def add(self, index: int, row: ResultRow, attempts: int) -> None:
        rec, route = self.taken[index]
        if row.custom_id != rec.custom_id:
            row = dataclasses.replace(row, custom_id=rec.custom_id)
        self.ready.append((rec, route, row))
        if len(self.ready) >= FLUSH_ROWS or self.clock.now() - self.last >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self.last = self.clock.now()
        if not self.ready:
            return
        self.chunks += 1
        shard, tag, n = self.shard.shard_id, self.tag, self.chunks
        key = f"{result_prefix(self.run_id)}{shard}-rt-{tag}-{n:05d}{RESULT_SUFFIX}"
        settlements: list[Settlement] = []
        offset = 0
        with self.store.blobs.writer(key) as out:
            for rec, route, row in self.ready:
                line = encode_result(row)
                out.write(line)
                settlements.append(_settled(rec, row, route, key, offset, len(line)))
                offset += len(line)
        n = self.store.settle_rows(self.run_id, settlements)
        self.done += n
        self.ready = []
        key = self.shard.shard_id
        if key in self.backlog:
            self.backlog[key] = max(0, self.backlog[key] - len(settlements))
        self.progress.settled(n)


def _settled(
    rec: PendingRow, row: ResultRow, route: str, key: str, offset: int, length: int
) -> Settlement:
    """A realtime row's settlement: its outcome as the executor judged it (retried
    already, so final), with its route."""
    err = row.error
    code = err.code if err else None
    if not row.outcome.ok and code is None:
        code = f"http_{row.status_code}" if row.status_code else row.outcome.value
    verdict = _Verdict(row.outcome, False, code, err.message if err else None)
    return settled_row(rec, row, verdict, key, offset, length, route)


def _missing(rec: PendingRow, route: str) -> Settlement:
    return Settlement(
        rec.idx,
        Outcome.MISSING.value,
        error_code="missing",
        error_message="the realtime route returned no answer for it",
        route=route,
    )


def _span(seconds: float) -> str:
    if seconds == float("inf"):
        return "an unknown time"
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m" if seconds >= 120 else f"{seconds:.0f}s"
