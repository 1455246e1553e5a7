"""RPM/TPM token buckets, OpenAI-style headers, 429 bodies and latency,
all on a fake clock."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport_emulator.ratelimit import (
    Decision,
    LatencyModel,
    RateLimiter,
    format_duration,
    rate_limit_error_body,
)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-3, "0s"),
        (0.12, "120ms"),
        (0.0001, "1ms"),
        (1, "1s"),
        (8.64, "8.64s"),
        (59.9999, "1m0s"),
        (360, "6m0s"),
        (361.5, "6m1.5s"),
        (3723, "1h2m3s"),
    ],
)
def test_format_duration_matches_openai_headers(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.floats(min_value=0.001, max_value=100_000, allow_nan=False))
def test_format_duration_round_trips_to_the_millisecond(seconds: float) -> None:
    text = format_duration(seconds)
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s|(\d+)ms)", text)
    assert match is not None, text
    hours, minutes, secs, millis = match.groups()
    total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)
    total += int(millis or 0) / 1000
    assert seconds <= total + 1e-9 <= seconds + 0.001 + 1e-6


def test_requests_bucket_refuses_then_refills_continuously() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=3, tpm=None, clock=clock)
    allowed = [limiter.check(10) for _ in range(3)]
    assert all(d.allowed and d.retry_after_s == 0 for d in allowed)
    assert [d.headers["x-ratelimit-remaining-requests"] for d in allowed] == ["2", "1", "0"]
    refused = limiter.check(10)
    assert not refused.allowed
    assert refused.kind == "requests"
    assert refused.retry_after_s == pytest.approx(20.0)  # one request per 20 s at 3 RPM
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["retry-after-ms"] == "20000"
    clock.advance(19.9)
    assert not limiter.check(10).allowed
    clock.advance(0.1)
    assert limiter.check(10).allowed


def test_refusal_consumes_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=10, tpm=100, clock=clock)
    assert limiter.check(90).allowed
    refused = limiter.check(20)
    assert not refused.allowed
    assert refused.kind == "tokens"
    assert refused.headers["x-ratelimit-remaining-requests"] == "9"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "10"
    assert refused.retry_after_s == pytest.approx(10 / (100 / 60))
    assert limiter.check(10).allowed


def test_headers_report_limits_and_reset_times() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, tpm=150_000, clock=clock)
    decision = limiter.check(1500)
    assert decision.headers == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "148500",
        "x-ratelimit-reset-tokens": "600ms",
    }


def test_unlimited_dimensions_send_no_headers() -> None:
    limiter = RateLimiter(rpm=None, tpm=None, clock=FakeClock())
    for _ in range(1000):
        decision = limiter.check(10**9)
        assert decision.allowed
    assert decision.headers == {}
    tpm_only = RateLimiter(rpm=None, tpm=10, clock=FakeClock()).check(1)
    assert set(tpm_only.headers) == {
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    }


def test_request_larger_than_the_tpm_limit_is_too_large() -> None:
    limiter = RateLimiter(rpm=None, tpm=1000, clock=FakeClock())
    decision = limiter.check(5000)
    assert not decision.allowed
    assert decision.kind == "tokens"
    assert decision.requested == 5000
    assert decision.limit == 1000
    body = rate_limit_error_body(decision, model="gpt-4o")
    assert body["error"]["message"].startswith("Request too large for gpt-4o")
    assert body["error"]["type"] == "tokens"


def test_clock_going_backwards_does_not_mint_capacity() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=1, tpm=None, clock=clock)
    assert limiter.check(0).allowed
    clock.advance(-30)
    assert not limiter.check(0).allowed
    clock.advance(30)
    assert not limiter.check(0).allowed  # time only now back where it was
    clock.advance(60)
    assert limiter.check(0).allowed


@pytest.mark.parametrize("value", [0, -5])
def test_limits_must_be_positive(value: int) -> None:
    with pytest.raises(ValueError, match="rpm"):
        RateLimiter(rpm=value, tpm=None, clock=FakeClock())


@given(
    st.integers(1, 600),
    st.lists(st.tuples(st.floats(0, 5), st.integers(0, 50)), min_size=1, max_size=80),
)
def test_admitted_work_never_exceeds_capacity_plus_refill(
    rpm: int, calls: list[tuple[float, int]]
) -> None:
    clock = FakeClock()
    tpm = 1000
    limiter = RateLimiter(rpm=rpm, tpm=tpm, clock=clock)
    admitted = tokens = 0
    for wait, cost in calls:
        clock.advance(wait)
        decision = limiter.check(cost)
        if decision.allowed:
            admitted += 1
            tokens += cost
        else:
            assert decision.retry_after_s > 0
            assert int(decision.headers["retry-after-ms"]) >= decision.retry_after_s * 1000 - 1
    elapsed = clock.now - 1000.0
    assert admitted <= rpm + elapsed * rpm / 60 + 1e-6
    assert tokens <= tpm + elapsed * tpm / 60 + 1e-6


def test_rate_limit_body_matches_openai() -> None:
    decision = Decision(False, 0.5, {}, kind="requests", limit=500, remaining=0, requested=1)
    body = rate_limit_error_body(decision, model="gpt-4o-mini", organization="org-abc")
    assert body == {
        "error": {
            "message": "Rate limit reached for gpt-4o-mini in organization org-abc on requests "
            "per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 500ms. Visit "
            "https://platform.openai.com/account/rate-limits to learn more.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


def test_latency_is_base_plus_per_token() -> None:
    model = LatencyModel(base_s=0.2, per_output_token_s=0.01)
    assert model.latency(0) == pytest.approx(0.2)
    assert model.latency(100) == pytest.approx(1.2)
    assert model.latency(-5) == pytest.approx(0.2)
    assert LatencyModel().latency(1000) == 0.0


@given(st.text(max_size=20), st.integers(0, 2000))
def test_latency_jitter_is_bounded_and_deterministic(key: str, tokens: int) -> None:
    model = LatencyModel(base_s=1.0, per_output_token_s=0.001, jitter=0.25, seed=3)
    nominal = 1.0 + 0.001 * tokens
    value = model.latency(tokens, key=key)
    assert nominal * 0.75 - 1e-9 <= value <= nominal * 1.25 + 1e-9
    assert model.latency(tokens, key=key) == value


def test_latency_jitter_varies_by_key_and_seed() -> None:
    model = LatencyModel(base_s=1.0, jitter=0.5)
    values = {model.latency(10, key=f"k{i}") for i in range(20)}
    assert len(values) > 15
    assert LatencyModel(base_s=1.0, jitter=0.5, seed=1).latency(10, key="k0") != model.latency(
        10, key="k0"
    )
