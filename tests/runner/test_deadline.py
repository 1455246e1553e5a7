"""Deadlines: the decision rule, and whole runs against the realistic emulator on the
virtual timeline (a warp loop: emulated hours pass in seconds, every wait modelled)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.memory import MemoryBackend
from batchport.backends.models import Job, JobStatus, RequestCounts
from batchport.bench import modes, warp
from batchport.bench.core import BenchSettings, emulator_config
from batchport.bench.workload import generate
from batchport.errors import ConfigError, InputError
from batchport.runner import Run
from batchport.runner.deadline import (
    DeadlinePolicy,
    DeadlineWatch,
    parse_deadline,
    realtime_rate,
    route_checkpoint,
)
from batchport.runner.fallback import fallback_drivers
from batchport.runner.options import RunOptions
from batchport.runner.policy import PollPolicy
from batchport.runner.progress import ShardView
from batchport.runner.worker import work
from batchport.store import CancelReason, RunState, ShardRecord, ShardState, open_store

HOUR = 3600.0


# -- the rule ------------------------------------------------------------------------------
def test_parse_deadline_reads_durations_times_and_refuses_nonsense() -> None:
    now = 1_000_000.0
    assert parse_deadline("2h", now=now).at == now + 2 * HOUR
    assert parse_deadline("1h30m", now=now).at == now + 1.5 * HOUR
    assert parse_deadline(90, now=now).at == now + 90
    assert parse_deadline(timedelta(minutes=5), now=now).at == now + 300
    when = datetime.fromtimestamp(now + 60, tz=UTC)
    assert parse_deadline(when, now=now).at == pytest.approx(now + 60)
    assert parse_deadline(when.isoformat(), now=now).at == pytest.approx(now + 60)
    for bad in ("soon", "", [1], True):
        with pytest.raises(InputError, match="not a time"):
            parse_deadline(bad, now=now)
    with pytest.raises(InputError, match="already passed"):
        parse_deadline(-5, now=now)


def test_realtime_rate_is_the_tightest_limit_times_the_safety() -> None:
    # 600 rpm = 10/s; 60,000 tpm at 100 tokens a row = 10/s; 8 workers at 2 s = 4/s
    rate = realtime_rate(rpm=600, tpm=60_000, concurrency=8, latency_s=2.0, tokens_per_row=100)
    assert rate == 4.0
    assert (
        realtime_rate(
            rpm=60, tpm=None, concurrency=100, latency_s=1.0, tokens_per_row=9, safety=0.5
        )
        == 0.5
    )


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_000_000.0 + self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def _watch(clock: _Clock, deadline_s: float, rows_per_s: float = 10.0) -> DeadlineWatch:
    policy = DeadlinePolicy(at=clock.wall() + deadline_s, margin_s=60, cancel_s=60, latency_s=0)
    return DeadlineWatch(policy, clock, lambda _shard: rows_per_s, lookahead_s=60)


def _job(done: int, total: int = 10_000) -> Job:
    return Job("b", JobStatus.IN_PROGRESS, RequestCounts(total, done, 0))


def test_a_batch_on_track_is_never_cancelled() -> None:
    clock = _Clock()
    watch = _watch(clock, 2 * HOUR)
    for step in range(0, 7000, 60):  # 2 rows/s: 10,000 rows in 83 min
        clock.t = step
        assert watch.observe("s0", 10_000, _job(min(10_000, 2 * step))) is None


def test_a_slow_batch_is_cancelled_at_the_latest_safe_moment_not_before() -> None:
    clock = _Clock()
    watch = _watch(clock, 2 * HOUR)
    decided = None
    for step in range(0, 7200, 60):  # 0.5 rows/s: would take 5.5 h
        clock.t = step
        decided = watch.observe("s0", 10_000, _job(step // 2))
        if decided:
            break
    assert decided is not None
    # realtime for R rows at 10/s; start by deadline - margin - cancel - R/10
    latest = 2 * HOUR - 60 - 60 - decided.remaining / 10
    assert latest - 60 <= clock.t <= latest  # within one lookahead of the latest moment
    assert decided.batch_eta_s > 2 * HOUR


def test_a_provider_without_counts_is_judged_by_the_stated_estimate() -> None:
    clock = _Clock()
    policy = DeadlinePolicy(at=clock.wall() + 2 * HOUR, batch_estimate_s=HOUR, latency_s=0)
    watch = DeadlineWatch(policy, clock, lambda _s: 10.0, lookahead_s=60)
    blind = Job("b", JobStatus.IN_PROGRESS)  # no counts at all
    for step in range(0, 7200, 60):
        clock.t = step
        assert watch.observe("s0", 10_000, blind) is None  # expected in 1 h: wait
    slow = DeadlinePolicy(at=clock.wall() + 2 * HOUR, batch_estimate_s=5 * HOUR, latency_s=0)
    watch = DeadlineWatch(slow, clock, lambda _s: 10.0, lookahead_s=60)
    assert watch.observe("s0", 10_000, blind) is None  # far from the latest moment
    clock.t += 2 * HOUR - 1200
    assert watch.observe("s0", 10_000, blind) is not None


def test_options_keep_the_deadline_through_json() -> None:
    opts = RunOptions(deadline="2h", fallback="flex", realtime_rpm=500)
    assert isinstance(opts.deadline, DeadlinePolicy)
    assert RunOptions.from_json(opts.to_json()) == opts
    with pytest.raises(InputError, match="fallback"):
        RunOptions(fallback="carrier-pigeon")  # type: ignore[arg-type]


async def test_a_backend_without_realtime_refuses_a_deadline_before_anything_is_sent(
    home: Path,
) -> None:
    be = MemoryBackend()
    with pytest.raises(ConfigError, match="no realtime route"):
        await bp.run([], backend=be, home=home, deadline="2h")
    assert be.jobs == {}
    store, _ = open_store(home)
    try:
        assert store.list_runs() == []  # no run was recorded
    finally:
        store.close()


def test_the_fallback_counts_the_drivers_holding_its_unfinished_shards() -> None:
    """Workers serving one run's fallback split its realtime limits: each counts the
    distinct live holders of its unfinished realtime shards (itself among them)."""

    def shard(sid: str, owner: str | None, expires: float, *, realtime: bool = True,
              state: ShardState = ShardState.SUBMITTING) -> ShardRecord:  # fmt: skip
        rec = ShardRecord.planned("r", sid, endpoint="/v1/chat/completions", model="m",
                                  caller_model="m", input_key="k", rows=1, bytes=1,
                                  est_tokens=1, content_hash="h")  # fmt: skip
        checkpoint = route_checkpoint("realtime") if realtime else "{}"
        return dataclasses.replace(rec, state=state.value, checkpoint=checkpoint,
                                   lease_owner=owner, lease_expires=expires)  # fmt: skip

    now = 1_000.0
    shards = [
        shard("s1-2", "a:1:x", now + 30),
        shard("s2-2", "a:1:x", now + 30),  # the same driver, twice
        shard("s3-2", "b:2:y", now + 5),
        shard("s4-2", "c:3:z", now - 1),  # expired: that worker is gone
        shard("s5-2", "d:4:w", now + 30, state=ShardState.RECONCILED),  # done
        shard("s6", "e:5:v", now + 30, realtime=False),  # a batch shard
        shard("s7-2", None, 0.0, state=ShardState.PLANNED),  # nobody's yet
    ]
    assert fallback_drivers(shards, now) == 2
    assert fallback_drivers(shards, now + 10) == 1  # b's lease ran out
    assert fallback_drivers([], now) == 1  # the caller, at least


# -- whole runs on the virtual timeline ----------------------------------------------------
_ID = re.compile(r"Request (\d+):")


@dataclass
class _Served:
    """What the emulator answered on its realtime endpoints, by row number."""

    realtime: Counter[int] = field(default_factory=Counter)
    tiers: Counter[str | None] = field(default_factory=Counter)

    def respond(self, request: Any) -> Mapping[str, Any]:
        if request.custom_id is None:
            text = request.body["messages"][0]["content"]
            match = _ID.search(text)
            assert match is not None
            self.realtime[int(match.group(1))] += 1
            self.tiers[request.body.get("service_tier")] += 1
        return {
            "object": "chat.completion",
            "model": request.body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok " * 50},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 150, "total_tokens": 250},
        }


class _Sink:
    def __init__(self, on_settled: Callable[[int], None] | None = None) -> None:
        self.notes: list[str] = []
        self.on_settled = on_settled

    def start(self, run_id: str, total_rows: int, settled: int) -> None:
        pass

    def shard(self, view: ShardView) -> None:
        pass

    def settled(self, rows: int) -> None:
        if self.on_settled is not None:
            self.on_settled(rows)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def finish(self) -> None:
        pass


@asynccontextmanager
async def _emulator(
    rows_per_s: float,
    faults: Mapping[str, Any],
    served: _Served,
    n: int,
    model: str = "gpt-4o-mini",
) -> AsyncIterator[tuple[EmulatorBackend, warp.LoopClock, Any]]:
    workload = generate(n, prompt_tokens=100, output_tokens=150, model=model)
    settings = BenchSettings(batch_rows_per_s=rows_per_s, error_rate=0.0)
    config = emulator_config(settings, workload)
    config.pop("responder")
    config["faults"] = dict(faults)
    backend = EmulatorBackend(config, responder=served.respond, max_retries=0)
    await backend.start()
    emu = backend.emulator
    assert emu is not None
    loop = asyncio.get_running_loop()
    assert isinstance(loop, warp.WarpLoop)
    remove = loop.on_jump(emu.advance_clock)
    try:
        yield backend, warp.LoopClock(), workload
    finally:
        remove()
        await backend.aclose()


def _warped(main: Callable[[], Awaitable[None]]) -> None:
    with asyncio.Runner(loop_factory=warp.new_warp_loop) as runner:
        runner.run(main())  # type: ignore[arg-type]


def _options(**extra: Any) -> RunOptions:
    poll = PollPolicy(interval=5.0, max_interval=60.0, factor=1.5, stall_timeout=24 * HOUR)
    fields: dict[str, Any] = {
        "poll": poll,
        "realtime_rpm": 500,
        "realtime_tpm": 200_000,
        "realtime_concurrency": 16,
    }
    fields.update(extra)
    return RunOptions(**fields)


def _check_one_outcome_per_row(run: Run, served: _Served, n: int) -> Counter[str | None]:
    rows = list(run.store.iter_rows(run.id))
    assert len(rows) == n and all(r.outcome == "succeeded" for r in rows)
    routes = Counter(r.route for r in rows)
    by_route = {int(r.custom_id.split("-")[1]): r.route for r in rows}
    # every realtime answer went to a row settled realtime, and only once
    assert all(by_route[i] == "realtime" for i in served.realtime)
    assert all(count == 1 for count in served.realtime.values())
    assert sum(served.realtime.values()) == routes["realtime"]
    return routes


def test_a_slow_batch_with_a_two_hour_deadline_ends_on_time_with_a_mix_of_routes(
    home: Path,
) -> None:
    served, n = _Served(), 600
    # 0.1 rows/s would take 100 min after the queue; the fault stalls it at 60% for good
    faults = {"expire_rate": 1.0, "expire_progress": 0.6}

    async def main() -> None:
        async with _emulator(0.1, faults, served, n) as (backend, clock, workload):
            sink = _Sink()
            t0 = clock.now()
            run = await bp.run(
                workload.requests,
                backend=backend,
                home=home,
                clock=clock,
                progress=sink,
                options=_options(deadline="2h"),
            )
            took = clock.now() - t0
            try:
                assert took <= 2 * HOUR
                routes = _check_one_outcome_per_row(run, served, n)
                assert routes[None] > 0 and routes["realtime"] > 0
                shards = run.store.shards(run.id)
                assert [s.cancel_reason for s in shards] == [CancelReason.DEADLINE, None]
                assert any("cannot finish in batch" in note for note in sink.notes)
                split = run.routes()
                assert split["batch"].rows + split["realtime"].rows == n
                assert split["realtime"].extra_usd is not None and split["realtime"].extra_usd > 0
                text = run.summary()
                assert "realtime" in text and "more than waiting in batch" in text
            finally:
                run.close()

    _warped(main)


def test_the_flex_fallback_asks_for_the_flex_tier_and_is_priced_as_batch(home: Path) -> None:
    served, n = _Served(), 300
    faults = {"expire_rate": 1.0, "expire_progress": 0.5}

    async def main() -> None:
        async with _emulator(0.1, faults, served, n, model="o4-mini") as (backend, clock, wl):
            opts = _options(deadline="2h", fallback="flex")
            t0 = clock.now()
            run = await bp.run(
                wl.requests, backend=backend, home=home, clock=clock, progress=_Sink(), options=opts
            )
            try:
                assert clock.now() - t0 <= 2 * HOUR
                routes = Counter(r.route for r in run.store.iter_rows(run.id))
                assert set(routes) == {None, "flex"} and routes["flex"] == sum(
                    served.tiers.values()
                )
                assert set(served.tiers) == {"flex"}
                flex = run.routes()["flex"]
                assert flex.cost_usd is not None and flex.cost_usd == flex.batch_usd
                assert flex.extra_usd == 0
            finally:
                run.close()

    _warped(main)


@pytest.mark.parametrize(
    ("dialect", "model"), [("anthropic", "claude-haiku-4-5"), ("gemini", "gemini-2.5-flash")]
)
def test_the_fallback_works_on_anthropic_and_gemini(home: Path, dialect: str, model: str) -> None:
    # Anthropic's counts stay 0 until a batch ends: judged by time against the estimate
    n = 200
    workload = generate(n, prompt_tokens=50, output_tokens=100, model=model)
    settings = BenchSettings(batch_rows_per_s=0.02, error_rate=0.0, dialect=dialect)
    target = modes.EmulatorTarget(emulator_config(settings, workload), dialect)

    async def main() -> None:
        async with target.session() as s:
            t0 = s.clock.now()
            run = await bp.run(
                workload.requests,
                backend=s.backend,
                home=home,
                clock=s.clock,
                progress=_Sink(),
                options=_options(deadline="1h"),
            )
            try:
                assert s.clock.now() - t0 <= HOUR
                routes = Counter(r.route for r in run.store.iter_rows(run.id))
                assert routes["realtime"] > 0 and routes[None] + routes["realtime"] == n
                assert run.outcomes == {"succeeded": n}
                texts = [r.text for r in run.results() if r.text]
                assert len(texts) == n  # realtime rows read back like batch rows
            finally:
                run.close()

    _warped(main)


def test_a_fast_batch_never_falls_back(home: Path) -> None:
    served, n = _Served(), 300

    async def main() -> None:
        async with _emulator(10.0, {}, served, n) as (backend, clock, workload):
            run = await bp.run(
                workload.requests,
                backend=backend,
                home=home,
                clock=clock,
                progress=_Sink(),
                options=_options(deadline="2h"),
            )
            try:
                assert Counter(r.route for r in run.store.iter_rows(run.id)) == {None: n}
                assert [s.cancel_reason for s in run.store.shards(run.id)] == [None]
                assert not served.realtime
                assert "more than waiting" not in run.summary()
            finally:
                run.close()

    _warped(main)


def test_max_cost_keeps_the_run_waiting_in_batch(home: Path) -> None:
    served, n = _Served(), 200

    async def main() -> None:
        # 0.02 rows/s: the batch takes almost 3 h, past the deadline
        async with _emulator(0.02, {}, served, n) as (backend, clock, workload):
            sink = _Sink()
            # the batch estimate ($0.012463) fits; any realtime surcharge does not
            opts = _options(deadline="2h", max_cost=0.0125)
            t0 = clock.now()
            run = await bp.run(
                workload.requests,
                backend=backend,
                home=home,
                clock=clock,
                progress=sink,
                options=opts,
            )
            try:
                assert clock.now() - t0 > 2 * HOUR  # late, as it had to be
                assert not served.realtime, sink.notes
                said = [note for note in sink.notes if "exceed max_cost" in note]
                assert said and "waiting in batch" in said[0]
                assert len([n for n in said if "shard s0000 " in n]) == 1  # said once a shard
                assert Counter(r.route for r in run.store.iter_rows(run.id)) == {None: n}
                assert run.outcomes == {"succeeded": n}
            finally:
                run.close()

    _warped(main)


def test_a_crash_in_the_middle_of_the_fallback_resumes_without_sending_rows_again(
    home: Path,
) -> None:
    served, n = _Served(), 600
    faults = {"expire_rate": 1.0, "expire_progress": 0.5}

    async def main() -> None:
        async with _emulator(0.1, faults, served, n) as (backend, clock, workload):
            settled = [0]
            task: asyncio.Task[Run] | None = None

            def crash_midway(rows: int) -> None:
                settled[0] += rows
                # the batch settles ~300 rows at once; crash once some realtime rows are in
                if settled[0] > n // 2 + 60 and task is not None:
                    task.cancel()

            opts = _options(deadline="2h")
            task = asyncio.ensure_future(
                bp.run(
                    workload.requests,
                    backend=backend,
                    home=home,
                    clock=clock,
                    progress=_Sink(crash_midway),
                    options=opts,
                    run_id="crashy",
                )
            )
            with pytest.raises(asyncio.CancelledError):
                await task
            store = bp.open_run("crashy", home=home)
            before = {r.custom_id for r in store.store.iter_rows("crashy") if r.route}
            fallback = [s for s in store.store.shards("crashy") if s.parent_id]
            store.close()
            assert before and len(before) < n // 2  # stopped midway through the fallback
            assert [s.state for s in fallback] == ["submitting"]
            sent_before = set(served.realtime)

            run = await bp.resume(
                "crashy", backend=backend, home=home, clock=clock, progress=_Sink()
            )
            try:
                assert run.state == RunState.DONE
                rows = list(run.store.iter_rows("crashy"))
                assert len(rows) == n and all(r.outcome == "succeeded" for r in rows)
                # no row settled before the crash was asked again
                again = {i for i, c in served.realtime.items() if c > 1}
                settled_ids = {int(c.split("-")[1]) for c in before}
                assert not again & settled_ids
                # at most the rows in flight at the crash were asked twice
                assert len(again) <= 16 + 32
                assert set(served.realtime) >= sent_before
                realtime = {int(r.custom_id.split("-")[1]) for r in rows if r.route}
                assert realtime == set(served.realtime)
            finally:
                run.close()

    _warped(main)


def test_several_shards_fall_back_through_one_set_of_limits_and_end_on_time(home: Path) -> None:
    served, n = _Served(), 900
    faults = {"expire_rate": 1.0, "expire_progress": 0.4}

    async def main() -> None:
        async with _emulator(0.1, faults, served, n) as (backend, clock, workload):
            sink = _Sink()
            opts = _options(deadline="2h", max_rows_per_shard=300, realtime_rpm=120)
            t0 = clock.now()
            run = await bp.run(
                workload.requests,
                backend=backend,
                home=home,
                clock=clock,
                progress=sink,
                options=opts,
            )
            try:
                assert clock.now() - t0 <= 2 * HOUR
                routes = _check_one_outcome_per_row(run, served, n)
                assert routes["realtime"] > 300  # more than one shard's worth
                roots = [s for s in run.store.shards(run.id) if s.parent_id is None]
                assert len(roots) == 3
                assert all(s.cancel_reason == CancelReason.DEADLINE for s in roots)
                # later shards counted the earlier ones' queue: none decided after its time
                said = [note for note in sink.notes if "cannot finish" in note]
                assert len(said) == 3
            finally:
                run.close()

    _warped(main)


def test_a_crash_between_the_decision_and_the_cancel_sends_the_cancel_on_resume(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, n = _Served(), 400
    faults = {"expire_rate": 1.0, "expire_progress": 0.5}

    class Killed(Exception):
        pass

    async def killed(job: Any) -> Any:
        raise Killed("the process died here")

    async def main() -> None:
        async with _emulator(0.1, faults, served, n) as (backend, clock, workload):
            t0 = clock.now()
            with monkeypatch.context() as m:
                m.setattr(backend, "cancel", killed)  # the decision is recorded, then death
                with pytest.raises(Killed):
                    await bp.run(
                        workload.requests,
                        backend=backend,
                        home=home,
                        clock=clock,
                        progress=_Sink(),
                        options=_options(deadline="2h"),
                        run_id="cut",
                    )
            emu = backend.emulator
            assert emu is not None
            (batch,) = emu.state.batches.all()
            assert batch.status.value == "in_progress"  # the cancel never went out
            run = await bp.resume("cut", backend=backend, home=home, clock=clock, progress=_Sink())
            try:
                assert clock.now() - t0 <= 2 * HOUR
                routes = _check_one_outcome_per_row(run, served, n)
                assert routes[None] > 0 and routes["realtime"] > 0
            finally:
                run.close()

    _warped(main)


def test_cancelling_the_run_during_the_fallback_stops_sending_and_keeps_what_finished(
    home: Path,
) -> None:
    served, n = _Served(), 600
    faults = {"expire_rate": 1.0, "expire_progress": 0.5}

    async def main() -> None:
        async with _emulator(0.1, faults, served, n) as (backend, clock, workload):
            settled = [0]
            cancels: list[asyncio.Task[Run]] = []

            def cancel_midway(rows: int) -> None:
                settled[0] += rows
                if settled[0] > n // 2 + 60 and not cancels:
                    cancels.append(
                        asyncio.ensure_future(
                            bp.cancel("stop", backend=backend, home=home, wait=False)
                        )
                    )

            run = await bp.run(
                workload.requests,
                backend=backend,
                home=home,
                clock=clock,
                progress=_Sink(cancel_midway),
                options=_options(deadline="2h"),
                run_id="stop",
            )
            (await cancels[0]).close()
            try:
                assert run.state == RunState.CANCELLED
                outcomes = run.outcomes
                assert outcomes["cancelled"] > 0 and outcomes["succeeded"] > n // 2
                assert sum(outcomes.values()) == n
                # what was sent realtime settled; nothing was sent after the cancel
                assert len(served.realtime) < n // 2
                realtime = [r for r in run.store.iter_rows(run.id) if r.route == "realtime"]
                assert {r.outcome for r in realtime} <= {"succeeded", "cancelled"}
            finally:
                run.close()

    _warped(main)


def test_two_workers_serving_one_fallback_keep_to_its_limits_together(home: Path) -> None:
    """Two workers drive one run with a deadline; both serve part of its fallback, each
    through a limiter of its own, and each takes its share of ``realtime_rpm``.
    Together they send no faster than the run's limit, beyond the bursts of two full
    buckets: each limiter starts full, before it may have counted the other."""
    served, n, rpm = _Served(), 1200, 240
    faults = {"expire_rate": 1.0, "expire_progress": 0.2}
    sent: list[float] = []
    respond = served.respond

    def timed(request: Any) -> Mapping[str, Any]:
        if request.custom_id is None:  # a realtime call
            sent.append(asyncio.get_running_loop().time())
        return respond(request)

    served.respond = timed  # type: ignore[method-assign]

    async def main() -> None:
        async with _emulator(0.1, faults, served, n) as (backend, clock, workload):
            opts = _options(deadline="2h", max_rows_per_shard=300, realtime_rpm=rpm,
                            realtime_tpm=None)  # fmt: skip
            r = await bp.run(
                workload.requests,
                backend=backend,
                home=home,
                clock=clock,
                options=opts,
                enqueue=True,
                progress=False,
                run_id="shared",
            )
            r.close()
            stores = [open_store(home)[0] for _ in range(2)]
            try:
                stats = await asyncio.gather(
                    *(
                        work(
                            st,
                            concurrency=2,
                            poll_s=5.0,
                            idle_exit_s=0.5,
                            clock=clock,
                            backend_for=lambda rec: backend,
                        )
                        for st in stores
                    )
                )
            finally:
                for st in stores:
                    st.close()
            assert all(s.shards for s in stats), "both workers took part"
            run = bp.open_run("shared", home=home)
            try:
                assert run.state == RunState.DONE
                routes = _check_one_outcome_per_row(run, served, n)
                assert routes["realtime"] > 600
                served_by = {s.shard_id for s in run.store.shards("shared") if s.parent_id}
                assert len(served_by) == 4
            finally:
                run.close()

    _warped(main)
    # requests beyond what the whole rate allows between any two of them: a limiter
    # each at the full rate would give 720 here
    sent.sort()
    rate = rpm / 60
    excess = max(
        j - i + 1 - rate * (sent[j] - sent[i])
        for i in range(len(sent))
        for j in range(i, len(sent))
    )
    assert excess <= 2 * rpm, excess
