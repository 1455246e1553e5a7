from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport.backends.base import QuotaLimit
from batchport.runner.policy import Backoff, QuotaGate


async def test_gate_keeps_tokens_under_the_limit_and_admits_in_order() -> None:
    gate = QuotaGate({"m": QuotaLimit(100)})
    admitted: list[int] = []

    async def shard(order: int) -> None:
        await gate.acquire("m", 60, order)
        admitted.append(order)

    await gate.acquire("m", 60, 0)
    tasks = [asyncio.create_task(shard(o)) for o in (3, 1, 2)]
    await asyncio.sleep(0)
    assert admitted == []  # 60 + 60 > 100
    for _ in range(3):
        await gate.release("m", 60)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert admitted == [1, 2, 3]


async def test_a_shard_larger_than_the_limit_runs_alone() -> None:
    gate = QuotaGate({"m": QuotaLimit(10)})
    await asyncio.wait_for(gate.acquire("m", 500, 0), 1)
    assert gate.in_flight("m") == 500


async def test_dynamic_quota_lets_everything_through() -> None:
    gate = QuotaGate({"m": QuotaLimit(10, dynamic=True)})
    for order in range(3):
        await asyncio.wait_for(gate.acquire("m", 50, order), 1)
    assert gate.in_flight("m") == 150


async def test_refused_shard_keeps_its_place_in_line() -> None:
    gate = QuotaGate()
    submitted: list[int] = []

    async def submit(order: int) -> None:
        async with gate.turn("m", order):
            submitted.append(order)

    gate.block("m", 1)  # shard 1 was refused and is backing off
    later = [asyncio.create_task(submit(o)) for o in (2, 3)]
    await submit(0)  # earlier shards are not held back
    await asyncio.sleep(0)
    assert submitted == [0]
    await submit(1)
    await gate.unblock("m", 1)
    await asyncio.gather(*later)
    assert submitted == [0, 1, 2, 3]


async def test_two_refused_shards_go_lowest_first_without_deadlock() -> None:
    gate = QuotaGate()
    submitted: list[int] = []

    async def submit(order: int) -> None:
        async with gate.turn("m", order):
            submitted.append(order)
        await gate.unblock("m", order)

    gate.block("m", 3)
    gate.block("m", 2)
    await asyncio.wait_for(
        asyncio.gather(*(asyncio.create_task(submit(o)) for o in (5, 3, 4, 2))), 2
    )
    assert submitted == [2, 3, 4, 5]


@given(st.integers(0, 20), st.floats(0, 1000))
def test_backoff_is_capped_and_honours_retry_after(attempt: int, retry_after: float) -> None:
    b = Backoff(base=5, factor=2, cap=600)
    d = b.delay(attempt)
    assert 0 < d <= 600
    assert d >= min(600, 5 * 2**attempt) / 2
    assert b.delay(attempt, at_least=retry_after) >= min(retry_after, 600)


@pytest.mark.parametrize("attempt", [0, 5, 50])
def test_backoff_cap(attempt: int) -> None:
    assert Backoff(base=1, cap=30).delay(attempt) <= 30
