"""Token buckets and the client-side rate limiter, on virtual time."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchport.realtime.limits import RateLimiter, TokenBucket
from batchport.runner import InstantClock


def test_a_full_bucket_admits_up_to_capacity_then_paces_at_the_refill_rate() -> None:
    bucket = TokenBucket(60, 0.0)  # 60 a minute = 1 a second
    waits = [bucket.reserve(1, 0.0) for _ in range(62)]
    assert waits[:60] == [0.0] * 60
    assert waits[60] == pytest.approx(1.0)
    assert waits[61] == pytest.approx(2.0)


def test_the_bucket_refills_with_time_but_never_above_capacity() -> None:
    bucket = TokenBucket(100, 0.0)
    bucket.reserve(100, 0.0)
    assert bucket.available(30.0) == pytest.approx(50.0)
    assert bucket.available(10_000.0) == pytest.approx(100.0)


def test_an_amount_over_capacity_waits_for_a_full_bucket_only() -> None:
    bucket = TokenBucket(100, 0.0)
    bucket.reserve(50, 0.0)
    assert bucket.reserve(500, 0.0) == pytest.approx(30.0)  # 50 missing at 100/60 per s


def test_invalid_buckets_and_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="rpm"):
        RateLimiter(0, None, InstantClock())


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 1000),
    calls=st.lists(
        st.tuples(st.floats(0, 30, allow_nan=False), st.integers(1, 400)), min_size=1, max_size=60
    ),
)
def test_admitted_units_never_exceed_capacity_plus_refill(
    capacity: int, calls: list[tuple[float, int]]
) -> None:
    """Whatever the arrival pattern, units used by time T <= capacity + rate * T, and
    callers are served in arrival order."""
    bucket = TokenBucket(capacity, 0.0)
    now, starts = 0.0, []
    for gap, amount in calls:
        now += gap
        amount = min(amount, capacity)
        starts.append((now + bucket.reserve(amount, now), amount))
    assert all(a[0] <= b[0] + 1e-9 for a, b in itertools.pairwise(starts))
    for t, _ in starts:
        used = sum(a for s, a in starts if s <= t + 1e-9)
        assert used <= capacity + bucket.rate * t + 1e-6


@settings(max_examples=100, deadline=None)
@given(amounts=st.lists(st.integers(1, 50), min_size=1, max_size=40))
def test_no_wait_while_the_bucket_holds_enough(amounts: list[int]) -> None:
    bucket = TokenBucket(sum(amounts), 0.0)
    assert all(bucket.reserve(a, 0.0) == 0.0 for a in amounts)


async def test_limiter_waits_on_the_injected_clock_for_the_tighter_limit() -> None:
    clock = InstantClock()
    limiter = RateLimiter(rpm=600, tpm=1200, clock=clock)  # 10 req/s, 20 tokens/s
    for _ in range(2):
        assert await limiter.acquire(600) == 0.0
    wait = await limiter.acquire(200)  # tokens empty: 200 at 20/s
    assert wait == pytest.approx(10.0)
    assert clock.slept == [pytest.approx(10.0)]


async def test_a_pause_holds_every_caller_until_it_ends() -> None:
    clock = InstantClock()
    limiter = RateLimiter(rpm=None, tpm=None, clock=clock)
    limiter.pause(2.5)
    assert await limiter.acquire(1) == pytest.approx(2.5)
    assert await limiter.acquire(1) == 0.0
    assert clock.now() == pytest.approx(2.5)


async def test_limiters_sharing_the_limits_each_send_their_share() -> None:
    """Two limiters sharing rpm=600 each admit half a minute's burst, then half the
    rate; alone again, one gets the whole rate back."""
    clock = InstantClock()
    a, b = (RateLimiter(rpm=600, tpm=None, clock=clock) for _ in range(2))
    for limiter in (a, b):
        limiter.share(2)
        assert [limiter.delay_for(1) for _ in range(300)] == [0.0] * 300
        assert limiter.delay_for(1) == pytest.approx(0.2)  # 300 a minute: one per 0.2 s
    await clock.sleep(60)
    a.share(1)
    assert a.requests is not None and a.requests.available(clock.now()) <= 300
    a.requests.reserve(a.requests.available(clock.now()), clock.now())  # empty it
    assert a.delay_for(1) == pytest.approx(0.1)  # 600 a minute again


async def test_the_sharers_are_counted_again_as_requests_go_out() -> None:
    clock = InstantClock()
    counts = iter([3, 3, 1])
    limiter = RateLimiter(rpm=None, tpm=60_000, clock=clock)
    limiter.count_sharers(lambda: next(counts), every_s=15.0)
    assert limiter.shared_by == 3
    assert limiter.tokens is not None and limiter.tokens.capacity == pytest.approx(20_000)
    await clock.sleep(14.9)
    limiter.delay_for(10)  # too soon: not counted
    await clock.sleep(0.1)
    limiter.delay_for(10)  # counted: still 3
    assert limiter.shared_by == 3
    await clock.sleep(15.0)
    limiter.delay_for(10)
    assert limiter.shared_by == 1 and limiter.tokens.capacity == pytest.approx(60_000)
