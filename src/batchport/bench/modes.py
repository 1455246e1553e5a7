"""Running one workload one way (batch, sequential, concurrent) and timing it.

A :class:`Target` says where requests go and how time is read. :class:`EmulatorTarget`
starts a fresh embedded emulator per mode (so no mode inherits another's rate-limit
state); on a :class:`~batchport.bench.warp.WarpLoop` each loop jump also moves the
emulator's virtual clock, and emulated time is read from that clock.
:class:`ProviderTarget` talks to a real provider, where emulated time is real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from openai import AsyncOpenAI

from batchport.backends.base import Backend
from batchport.bench.warp import LoopClock, WarpLoop
from batchport.realtime import RealtimeOptions, run_realtime
from batchport.requests import Request
from batchport.runner import run as run_batch
from batchport.runner.clock import Clock
from batchport.runner.deadline import parse_deadline, wall_now
from batchport.runner.options import RunOptions
from batchport.runner.results import RunResult

__all__ = ["EmulatorTarget", "ModeResult", "ProviderTarget", "Target", "bench_batch"]


@dataclass(slots=True)
class ModeResult:
    """One mode's figures. Times in seconds; ``curve`` holds (emulated seconds since the
    start, rows settled so far) points; costs in USD (None when a model is unpriced)."""

    mode: str
    rows: int
    emulated_wall_s: float
    real_wall_s: float
    cpu_s: float
    first_result_s: float | None
    failed: int
    retried: int
    cost_usd: float | None
    price_basis: str
    outcomes: dict[str, int]
    rate_limited: int = 0
    server_errors: int = 0
    curve: list[tuple[float, int]] = field(default_factory=list)
    #: the same tokens at the other price (realtime for a batch, batch for realtime)
    other_cost_usd: float | None = None
    #: batch: status reads made, and batches (shards) submitted
    polls: int | None = None
    shards: int | None = None
    #: realtime: per-row time from taking the row to its settled result (limiter
    #: waits, retries and latency included), in seconds
    row_p50_s: float | None = None
    row_p99_s: float | None = None
    #: deadline: rows by route (``batch``, ``realtime``, ``flex``), the deadline (seconds
    #: after the start) and whether the run ended by then
    routes: dict[str, int] | None = None
    deadline_s: float | None = None

    @property
    def deadline_met(self) -> bool | None:
        if self.deadline_s is None:
            return None
        return self.emulated_wall_s <= self.deadline_s

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.emulated_wall_s if self.emulated_wall_s > 0 else 0.0

    @property
    def cost_per_1k(self) -> float | None:
        if self.cost_usd is None or not self.rows:
            return None
        return self.cost_usd / self.rows * 1000


class Session(Protocol):
    """One mode's connection to a target: a backend, a client, and a time source."""

    backend: Backend
    client: Any  # AsyncOpenAI, or AsyncAnthropic for Anthropic's /v1/messages
    clock: Clock
    prepare: Callable[[Request], Request] | None

    def emulated_now(self) -> float: ...


class Target(Protocol):
    name: str

    def session(self) -> contextlib.AbstractAsyncContextManager[Session]: ...


@dataclass(slots=True)
class _Session:
    backend: Backend
    client: Any
    clock: Clock
    now: Callable[[], float]
    prepare: Callable[[Request], Request] | None = None

    def emulated_now(self) -> float:
        return self.now()


class EmulatorTarget:
    """A fresh embedded emulator per session, built from ``config`` (an EmulatorConfig
    dict), spoken to in ``dialect`` (``openai`` or ``anthropic``)."""

    name = "emulator"

    def __init__(self, config: dict[str, Any], dialect: str = "openai") -> None:
        self.config = config
        self.dialect = dialect

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        from batchport.backends.emulator import EmulatorBackend

        backend = EmulatorBackend(self.config, max_retries=8)
        try:
            await backend.start()
            emu = backend.emulator
            assert emu is not None  # started just above, embedded
            loop = asyncio.get_running_loop()
            remove = loop.on_jump(emu.advance_clock) if isinstance(loop, WarpLoop) else None
            session = _emulator_session(backend, emu.url, self.dialect, emu.state.clock.now)
            try:
                yield session
            finally:
                if session.backend.provider != "gemini":  # the backend closes its own
                    await _close(session.client)
                if session.backend is not backend:
                    await session.backend.aclose()
                if remove is not None:
                    remove()
        finally:
            await backend.aclose()


async def _close(client: Any) -> None:
    """Close a realtime client of any of the SDKs."""
    if hasattr(client, "aio"):  # google-genai: the async side, then the sync one
        await client.aio.aclose()
        client.close()
    else:
        await client.close()


def _emulator_session(
    backend: Backend, url: str, dialect: str, now: Callable[[], float]
) -> _Session:
    if dialect == "gemini":
        from batchport.backends.gemini import GeminiBackend

        gbackend = GeminiBackend(base_url=url, api_key="bench-gemini-key")
        return _Session(gbackend, gbackend.client, LoopClock(), now, gbackend.prepare_request)
    if dialect != "anthropic":
        openai_client = AsyncOpenAI(base_url=url + "/v1", api_key="sk-bench", max_retries=0)
        return _Session(backend, openai_client, LoopClock(), now)
    from anthropic import AsyncAnthropic

    from batchport.backends.anthropic import AnthropicBackend

    messages = AnthropicBackend(base_url=url, api_key="sk-ant-bench", max_retries=8)
    client = AsyncAnthropic(base_url=url, api_key="sk-ant-bench", max_retries=0)
    return _Session(messages, client, LoopClock(), now, messages.prepare_request)


class ProviderTarget:
    """A real provider through a named backend (``openai``, ``anthropic``, ``gemini``);
    the realtime client comes from the environment as its SDK reads it."""

    def __init__(self, backend: str) -> None:
        self.name = backend

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        from batchport.backends import get_backend
        from batchport.runner.clock import SystemClock

        backend = get_backend(self.name)
        client: Any
        prepare: Callable[[Request], Request] | None = None
        own = True
        if backend.provider == "anthropic":
            from anthropic import AsyncAnthropic

            client, prepare = AsyncAnthropic(max_retries=0), backend.prepare_request
        elif backend.provider == "gemini":  # the backend's own google-genai client
            client, prepare, own = getattr(backend, "client"), backend.prepare_request, False  # noqa: B009
        else:
            client = AsyncOpenAI(max_retries=0)
        try:
            yield _Session(backend, client, SystemClock(), time.monotonic, prepare)
        finally:
            if own:
                await _close(client)
            await backend.aclose()


class _Landing:
    """Progress sink recording when batch rows settle (on the session clock), and
    counting status reads: the runner shows a shard once when it is submitted and once
    after every poll."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.points: list[tuple[float, int]] = []
        self.done = 0
        self.views = 0
        self.shards: set[str] = set()

    @property
    def polls(self) -> int:
        return self.views - len(self.shards)

    def start(self, run_id: str, total_rows: int, settled: int) -> None:
        pass

    def shard(self, view: Any) -> None:
        self.views += 1
        self.shards.add(str(view.shard_id))

    def settled(self, rows: int) -> None:
        self.done += rows
        self.points.append((self.clock.now(), self.done))

    def note(self, text: str) -> None:
        pass

    def finish(self) -> None:
        pass


async def bench_batch(
    requests: list[Request],
    target: Target,
    options: RunOptions | None = None,
    *,
    deadline_s: float | None = None,
) -> ModeResult:
    """Run ``requests`` as batches through :func:`batchport.run` (with ``options``, such
    as its poll policy); cost at batch price. With ``deadline_s`` (seconds from the
    start) the run keeps that deadline: rows a slow batch cannot finish are served
    realtime, and cost is each row at its route's price (mode ``deadline``)."""
    async with target.session() as s:
        sink = _Landing(s.clock)
        with tempfile.TemporaryDirectory(prefix="batchport-bench-") as home:
            t0, c0, e0, k0 = (
                time.perf_counter(),
                time.process_time(),
                s.emulated_now(),
                s.clock.now(),
            )
            if deadline_s is not None:  # counted from now
                at = parse_deadline(deadline_s, now=wall_now(s.clock))
                options = replace(options or RunOptions(), deadline=at)
            run = await run_batch(
                requests,
                backend=s.backend,
                home=home,
                clock=s.clock,
                progress=sink,
                options=options,
            )
            real, cpu, emulated = (
                time.perf_counter() - t0,
                time.process_time() - c0,
                s.emulated_now() - e0,
            )
            results = list(run.results())
            cost = run.cost
            routes = run.routes() if deadline_s is not None else None
            run.store.close()
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r.outcome.value] = outcomes.get(r.outcome.value, 0) + 1
    curve = [(t - k0, n) for t, n in sink.points]
    paid: float | None = cost.batch_usd if cost.priced else None
    if routes is not None:  # each route at its own price
        spent = [r.cost_usd for r in routes.values()]
        paid = sum(c for c in spent if c is not None) if None not in spent else None
    return ModeResult(
        "deadline" if routes is not None else "batch", len(results), emulated, real, cpu,
        curve[0][0] if curve else None,
        sum(1 for r in results if not r.outcome.ok),
        sum(1 for r in results if r.attempts > 1),
        paid, "batch" if routes is None else "by route",
        dict(sorted(outcomes.items())), curve=curve,
        other_cost_usd=cost.realtime_usd if cost.priced else None,
        polls=sink.polls, shards=len(sink.shards),
        routes={k: r.rows for k, r in routes.items()} if routes is not None else None,
        deadline_s=deadline_s,
    )  # fmt: skip


async def bench_realtime(
    requests: list[Request], target: Target, options: RealtimeOptions, mode: str
) -> ModeResult:
    """Run ``requests`` through the realtime endpoints; cost at realtime price."""
    async with target.session() as s:
        taken: dict[int, float] = {}
        row_s: list[float] = []
        clock = s.clock

        def feed() -> Iterator[Request]:
            # workers take rows from one shared iterator: this is when a row is taken
            for i, req in enumerate(requests):
                taken[i] = clock.now()
                yield req

        def settled(result: RunResult) -> None:
            row_s.append(clock.now() - taken[result.index])

        t0, c0, e0 = time.perf_counter(), time.process_time(), s.emulated_now()
        run = await run_realtime(
            feed(),
            client=s.client,
            options=options,
            clock=s.clock,
            prepare=s.prepare,
            on_result=settled,
        )
        real, cpu, emulated = (
            time.perf_counter() - t0,
            time.process_time() - c0,
            s.emulated_now() - e0,
        )
    curve = [(t - run.started_at, i + 1) for i, t in enumerate(run.landed_at)]
    cost = run.cost
    return ModeResult(
        mode, len(run.results), emulated, real, cpu,
        curve[0][0] if curve else None,
        run.failed, run.retried,
        cost.realtime_usd if cost.priced else None, "realtime",
        run.outcomes, run.rate_limited, run.server_errors, curve,
        other_cost_usd=cost.batch_usd if cost.priced else None,
        row_p50_s=quantile(row_s, 0.5), row_p99_s=quantile(row_s, 0.99),
    )  # fmt: skip


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` (nearest rank), None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
