"""Opt-in models used by the bench: batch capacity shared by an account, lognormal
realtime latency, and injected realtime 429/5xx."""

from __future__ import annotations

import math
import statistics

from conftest import MakeClient, StateFactory
from emu_jsonl import chat_file
from test_state_batches import submit

from batchport_emulator.config import EmulatorConfig
from batchport_emulator.lifecycle import Status
from batchport_emulator.ratelimit import ErrorModel, LatencyModel


def test_the_default_scope_is_per_batch() -> None:
    progression = EmulatorConfig(profile="realistic").progression
    assert progression.kind == "throughput" and progression.scope == "batch"


async def _run_shards(make_state: StateFactory, shards: int, scope: str) -> float:
    state = await make_state(
        clock={"scale": 0},
        progression={
            "kind": "throughput",
            "requests_per_s": 2,
            "validating_s": 0,
            "finalizing_s": 0,
            "scope": scope,
        },
    )
    ids = [submit(state, chat_file(40 // shards)) for _ in range(shards)]
    start = state.clock.now()
    for _ in range(400):
        await state.processor.drain()
        if all(state.batches.get(i).status is Status.COMPLETED for i in ids):
            return state.clock.now() - start
        state.advance_clock(0.5)
    raise AssertionError("batches did not finish")


async def test_account_scope_shares_the_rate_so_shards_do_not_finish_sooner(
    make_state: StateFactory,
) -> None:
    one = await _run_shards(make_state, 1, "account")
    four = await _run_shards(make_state, 4, "account")
    assert one == four == 20.0  # 40 rows at 2 rows/s for the account either way
    assert await _run_shards(make_state, 4, "batch") == 5.0  # the old per-batch rate


async def test_account_scope_serves_batches_in_turn_and_a_cancel_frees_its_turn(
    make_state: StateFactory,
) -> None:
    state = await make_state(
        clock={"scale": 0},
        progression={"kind": "throughput", "requests_per_s": 1, "validating_s": 0,
                     "finalizing_s": 0, "cancelling_s": 0, "scope": "account"},
    )  # fmt: skip
    first, second = submit(state, chat_file(10)), submit(state, chat_file(10))
    await state.processor.drain()
    state.advance_clock(4)
    await state.processor.drain()
    a, b = state.batches.get(first), state.batches.get(second)
    assert (a.counts.completed, b.counts.completed) == (4, 0)  # first come, first served
    state.cancel_batch(first)
    await state.processor.drain()
    state.advance_clock(3)
    await state.processor.drain()
    assert b.counts.completed == 3  # the second moved up into the first's unused time


def test_lognormal_latency_keeps_the_mean_and_has_a_tail() -> None:
    model = LatencyModel(base_s=0.5, per_output_token_s=0.01, distribution="lognormal", sigma=0.5)
    draws = [model.latency(100, key=f"req-{i}") for i in range(4000)]
    assert abs(statistics.fmean(draws) - 1.5) < 0.05  # the nominal time is the mean
    p50, p99 = model.quantile(100, 0.5), model.quantile(100, 0.99)
    assert abs(p99 / p50 - math.exp(0.5 * 2.3263478740408408)) < 1e-9
    ordered = sorted(draws)
    assert abs(ordered[int(0.99 * len(ordered))] / p99 - 1) < 0.1
    assert model.latency(100, key="same") == model.latency(100, key="same")


def test_error_model_draws_the_stated_share() -> None:
    model = ErrorModel(rate=0.1, kinds=("429", "503"), seed=1)
    draws = [model.draw(f"req-{i}") for i in range(5000)]
    failed = [d for d in draws if d is not None]
    assert 400 < len(failed) < 600 and set(failed) == {"429", "503"}
    assert ErrorModel().draw("x") is None


async def test_injected_realtime_errors_answer_429_with_retry_after_and_5xx(
    make_client: MakeClient,
) -> None:
    client = await make_client(
        realtime={"error_rate": 1.0, "error_kinds": ["429"], "error_retry_after_s": 2.0}
    )
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"Authorization": "Bearer sk-test"}
    resp = await client.post("/v1/chat/completions", json=body, headers=auth)
    assert resp.status == 429
    assert resp.headers["retry-after-ms"] == "2000"
    assert (await resp.json())["error"]["code"] == "rate_limit_exceeded"
    patch = {"realtime": {"error_kinds": ["503"]}}
    assert (await client.patch("/_emulator/config", json=patch, headers=auth)).status == 200
    resp = await client.post("/v1/chat/completions", json=body, headers=auth)
    assert resp.status == 503
    patch = {"realtime": {"error_rate": 0.0}}
    assert (await client.patch("/_emulator/config", json=patch, headers=auth)).status == 200
    assert (await client.post("/v1/chat/completions", json=body, headers=auth)).status == 200
