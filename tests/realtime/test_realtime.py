"""The realtime executor against the embedded emulator, on injected time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from batchport.backends.emulator import EmulatorBackend
from batchport.bench.warp import LoopClock, WarpLoop, new_warp_loop
from batchport.errors import InputError
from batchport.realtime import RealtimeOptions, run_realtime
from batchport.requests import Request
from batchport.runner import InstantClock, Outcome, run
from batchport_emulator import Emulator
from batchport_emulator.responders import RespondRequest, RespondResult


def chat(i: int, text: str = "") -> Request:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"row {i} {text}"}]}
    return Request(custom_id=f"r{i}", url="/v1/chat/completions", body=body)


class EmulatorClock:
    """Virtual time shared with the emulator: sleeping moves the emulator's clock."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.slept: list[float] = []

    def now(self) -> float:
        return self.emu.state.clock.now()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.emu.advance_clock(seconds)
        await asyncio.sleep(0)


class Flaky:
    """Answers 503 to the first ``failures`` calls, then a small chat completion."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def respond(self, request: RespondRequest) -> RespondResult:
        self.calls += 1
        if self.calls <= self.failures:
            err = {"message": "busy", "type": "server_error", "param": None, "code": None}
            return RespondResult(503, {"error": err})
        msg = {"role": "assistant", "content": "ok"}
        body = {
            "object": "chat.completion",
            "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }
        return RespondResult(200, body, input_tokens=5, output_tokens=1)

    async def aclose(self) -> None:
        pass


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    config, responder = getattr(request, "param", (None, None))
    async with Emulator(config, responder=responder) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncOpenAI]:
    c = AsyncOpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0)
    yield c
    await c.close()


async def test_sequential_rows_come_back_in_input_order_with_usage_and_cost(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    reqs = [chat(i) for i in range(5)]
    rt = await run_realtime(reqs, client=client, clock=EmulatorClock(emulator))
    assert [r.custom_id for r in rt.results] == [q.custom_id for q in reqs]
    assert rt.outcomes == {"succeeded": 5}
    assert all(r.attempts == 1 and r.usage.output_tokens > 0 for r in rt.results)
    assert rt.results[0].text
    cost = rt.cost
    assert cost.priced and cost.realtime_usd == pytest.approx(2 * cost.batch_usd)
    assert len(rt.landed_at) == 5


async def test_request_lines_as_dicts_run_realtime_as_requests_do(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    reqs = [chat(i) for i in range(4)]
    lines: list[Any] = [r.to_dict() for r in reqs]
    rt = await run_realtime(lines, client=client, clock=EmulatorClock(emulator), concurrency=2)
    assert [r.custom_id for r in rt.results] == [q.custom_id for q in reqs]
    assert rt.outcomes == {"succeeded": 4}
    # an item that is no request: the error bp.run gives, not a task group's
    lines[2] = {"custom_id": "x", "method": "POST", "url": "/v1/chat/completions"}
    with pytest.raises(InputError, match=r"<requests>:3: missing_required_parameter"):
        await run_realtime(lines, client=client, clock=EmulatorClock(emulator), concurrency=2)


@pytest.mark.parametrize(
    "emulator", [({"clock": {"scale": 0}, "realtime": {"rpm": 2}}, None)], indirect=True
)
async def test_429_waits_exactly_the_retry_after_the_server_sent(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    clock = EmulatorClock(emulator)
    rt = await run_realtime([chat(i) for i in range(3)], client=client, clock=clock)
    assert rt.outcomes == {"succeeded": 3}
    assert rt.rate_limited == 1
    assert [r.attempts for r in rt.results] == [1, 1, 2]
    # rpm=2 refills one request every 30 s; the server says so in retry-after-ms
    assert clock.slept == [pytest.approx(30.0)]  # frozen clock: exact


@pytest.mark.parametrize("emulator", [(None, Flaky(2))], indirect=True)
async def test_5xx_is_retried_with_backoff_until_it_succeeds(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    clock = EmulatorClock(emulator)
    rt = await run_realtime([chat(0)], client=client, clock=clock, backoff_base_s=2.0)
    (row,) = rt.results
    assert (row.outcome, row.attempts, row.status_code) == (Outcome.SUCCEEDED, 3, 200)
    assert rt.server_errors == 2
    assert 1.0 <= clock.slept[0] <= 2.0 and 2.0 <= clock.slept[1] <= 4.0


async def test_persistent_5xx_fails_after_max_attempts_and_400_is_not_retried(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    reqs = [chat(0, "[[emulator:status=500]]"), chat(1, "[[emulator:status=400]]")]
    rt = await run_realtime(reqs, client=client, clock=InstantClock(), max_attempts=3)
    five, four = rt.results
    assert (five.outcome, five.attempts, five.status_code) == (Outcome.FAILED, 3, 500)
    assert (four.outcome, four.attempts, four.status_code) == (Outcome.FAILED, 1, 400)
    assert four.error is not None and four.error.message


async def test_a_dead_server_is_a_failed_row_not_a_crash() -> None:
    client = AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-test", max_retries=0)
    try:
        rt = await run_realtime([chat(0)], client=client, clock=InstantClock(), max_attempts=2)
    finally:
        await client.close()
    (row,) = rt.results
    assert (row.outcome, row.status_code, row.attempts) == (Outcome.FAILED, None, 2)
    assert row.error is not None and row.error.code == "connection_error"


MARKED = ["", "[[emulator:status=400]]", "[[emulator:refuse]]", "[[emulator:truncate]]",
          "[[emulator:content_filter]]", "[[emulator:status=404]]"]  # fmt: skip


async def test_outcomes_match_the_batch_runner_row_for_row(
    emulator: Emulator, client: AsyncOpenAI, tmp_path: Path
) -> None:
    reqs = [chat(i, text) for i, text in enumerate(MARKED)]
    rt = await run_realtime(reqs, client=client, clock=InstantClock(), concurrency=3)
    backend = EmulatorBackend({})
    try:
        batch = await run(
            reqs, backend=backend, home=tmp_path, clock=InstantClock(real_sleep=0.005),
            progress=False, max_attempts=1,
        )  # fmt: skip
        by_batch = {r.custom_id: r for r in batch.results()}
    finally:
        await backend.aclose()
        batch.store.close()

    def key(r: Any) -> tuple[Any, ...]:
        code = r.error.code if r.error else None
        return (r.index, r.outcome, r.status_code, code, r.usage.input_tokens, r.attempts)

    assert [key(r) for r in rt.results] == [key(by_batch[q.custom_id]) for q in reqs]
    assert {r.outcome for r in rt.results} == {
        Outcome.SUCCEEDED, Outcome.FAILED, Outcome.REFUSED, Outcome.TRUNCATED,
        Outcome.CONTENT_FILTERED,
    }  # fmt: skip


def _timed(concurrency: int) -> float:
    async def main() -> float:
        cfg = {"realtime": {"latency_base_s": 2.0}}
        async with Emulator(cfg) as emu:
            loop = asyncio.get_running_loop()
            assert isinstance(loop, WarpLoop)
            loop.on_jump(emu.advance_clock)
            client = AsyncOpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
            try:
                t0 = emu.state.clock.now()
                opts = RealtimeOptions(concurrency=concurrency)
                rt = await run_realtime(
                    [chat(i) for i in range(8)], client=client, clock=LoopClock(), options=opts
                )
                assert rt.outcomes == {"succeeded": 8}
                assert emu.state.clock.now() - t0 == pytest.approx(rt.wall_s, abs=1.0)
                return rt.wall_s
            finally:
                await client.close()

    with asyncio.Runner(loop_factory=new_warp_loop) as runner:
        return runner.run(main())


def test_concurrency_overlaps_latency_on_the_warped_clock() -> None:
    """8 requests of 2 s modelled latency: 16 s one by one, 4 s four at a time."""
    # modelled waits are exact lower bounds; real processing time (load-dependent) adds on
    assert 16.0 <= _timed(1) < 18.0
    assert 4.0 <= _timed(4) < 6.0
