"""Realtime latency and rate-limit model (pure Python, no I/O).

``RateLimiter`` keeps two token buckets, requests per minute and tokens per
minute, that refill continuously (a full bucket every 60 s). ``check`` answers
with a ``Decision`` carrying OpenAI's ``x-ratelimit-*`` headers, plus
``retry-after``/``retry-after-ms`` when it refuses; ``rate_limit_error_body``
renders the matching 429 body. ``LatencyModel`` gives a deterministic service
time for a response (uniform jitter, or a lognormal with a long tail), and
``ErrorModel`` picks the calls answered with an injected 429 or 5xx. Time comes
from an injected clock; nothing here sleeps.
Not thread-safe: the emulator calls it from its event loop only.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from batchport_emulator.errors import error_envelope

__all__ = [
    "Clock",
    "Decision",
    "ErrorModel",
    "LatencyModel",
    "RateLimiter",
    "format_duration",
    "rate_limit_error_body",
]

Clock = Callable[[], float]
"""Returns the current time in seconds (the emulator's virtual clock)."""

_WINDOW_S = 60.0
_RATE_LIMIT_DOCS = "https://platform.openai.com/account/rate-limits"


def format_duration(seconds: float) -> str:
    """Render a duration the way OpenAI's ``x-ratelimit-reset-*`` headers do
    (Go duration strings): ``"0s"``, ``"120ms"``, ``"1s"``, ``"8.64s"``,
    ``"6m0s"``, ``"1h2m3s"``. Sub-second values round up to whole ms."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{math.ceil(seconds * 1000 - 1e-9)}ms"
    millis = math.ceil(seconds * 1000 - 1e-9)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs = f"{millis / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _unit_from_key(key: str, seed: int) -> float:
    """A deterministic number in [-1, 1) from ``key`` and ``seed``."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0


_STANDARD_NORMAL = statistics.NormalDist()


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Service time of one realtime response, in seconds.

    The nominal time is ``base_s + per_output_token_s * output_tokens``. With the
    ``uniform`` distribution it is scaled by a factor in ``[1 - jitter, 1 + jitter]``;
    with ``lognormal`` by ``exp(sigma * z - sigma**2 / 2)`` for a standard normal ``z``,
    so the nominal time is the mean and the tail is long (the p99 is
    ``exp(2.326 * sigma)`` times the median). Draws are deterministic from ``key`` and
    ``seed`` (the same key always gets the same latency). Never negative.
    """

    base_s: float = 0.0
    per_output_token_s: float = 0.0
    jitter: float = 0.0
    seed: int = 0
    distribution: Literal["uniform", "lognormal"] = "uniform"
    sigma: float = 0.0

    def latency(self, output_tokens: int, *, key: str = "") -> float:
        nominal = self.base_s + self.per_output_token_s * max(output_tokens, 0)
        if nominal <= 0:
            return 0.0
        if self.distribution == "lognormal":
            if self.sigma:
                unit = (_unit_from_key(key, self.seed) + 1.0) / 2.0  # [0, 1)
                z = _STANDARD_NORMAL.inv_cdf(min(max(unit, 1e-12), 1 - 1e-12))
                nominal *= math.exp(self.sigma * z - self.sigma**2 / 2)
        elif self.jitter:
            nominal *= 1.0 + self.jitter * _unit_from_key(key, self.seed)
        return max(nominal, 0.0)

    def quantile(self, output_tokens: int, q: float) -> float:
        """The ``q`` quantile (0 < q < 1) of the latency for ``output_tokens``."""
        nominal = self.base_s + self.per_output_token_s * max(output_tokens, 0)
        if self.distribution == "lognormal":
            z = _STANDARD_NORMAL.inv_cdf(q)
            return nominal * math.exp(self.sigma * z - self.sigma**2 / 2)
        return nominal * (1.0 + self.jitter * (2 * q - 1))


@dataclass(frozen=True, slots=True)
class ErrorModel:
    """Which realtime calls fail on purpose: a share ``rate`` of them, each answering
    one of ``kinds`` (``"429"``, ``"500"``, ``"503"``), drawn deterministically from the
    call's key and ``seed``."""

    rate: float = 0.0
    kinds: tuple[str, ...] = ("429", "500", "503")
    seed: int = 0

    def draw(self, key: str) -> str | None:
        """The injected failure for the call ``key``, or ``None``."""
        if self.rate <= 0 or not self.kinds:
            return None
        if (_unit_from_key(f"error:{key}", self.seed) + 1.0) / 2.0 >= self.rate:
            return None
        pick = (_unit_from_key(f"error-kind:{key}", self.seed) + 1.0) / 2.0
        return self.kinds[min(int(pick * len(self.kinds)), len(self.kinds) - 1)]


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of ``RateLimiter.check``.

    ``retry_after_s`` is 0 when allowed, else the seconds until the refused
    request would fit. ``headers`` are the ``x-ratelimit-*`` headers (only for
    the dimensions that have a limit), plus ``retry-after`` (whole seconds,
    rounded up) and ``retry-after-ms`` when refused. On refusal ``kind`` says
    which limit was hit, and ``limit``/``remaining``/``requested`` describe it
    (whole requests or tokens) for the 429 message.
    """

    allowed: bool
    retry_after_s: float
    headers: Mapping[str, str]
    kind: Literal["requests", "tokens"] | None = None
    limit: int = 0
    remaining: int = 0
    requested: int = 0


@dataclass(slots=True)
class _Bucket:
    capacity: float
    level: float
    rate: float = field(init=False)  # units per second

    def __post_init__(self) -> None:
        self.rate = self.capacity / _WINDOW_S

    def refill(self, elapsed: float) -> None:
        if elapsed > 0:
            self.level = min(self.capacity, self.level + elapsed * self.rate)

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 if it is now)."""
        missing = amount - self.level
        return missing / self.rate if missing > 0 else 0.0

    def reset_in(self) -> float:
        return (self.capacity - self.level) / self.rate


class RateLimiter:
    """RPM and TPM token buckets; ``None`` for a limit means unlimited.

    Both buckets start full. ``check(tokens)`` consumes one request and
    ``tokens`` tokens when both are available, and consumes nothing when it
    refuses. A request needing more tokens than the TPM limit can never pass;
    it is refused with the time until the bucket is full.
    """

    def __init__(self, rpm: int | None, tpm: int | None, clock: Clock) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive integer or None, got {value}")
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._requests = _Bucket(rpm, float(rpm)) if rpm else None
        self._tokens = _Bucket(tpm, float(tpm)) if tpm else None
        self._last = clock()

    def check(self, tokens: int) -> Decision:
        """Admit or refuse one request of ``tokens`` estimated tokens."""
        now = self._clock()
        elapsed, self._last = now - self._last, max(now, self._last)
        requests, token_bucket = self._requests, self._tokens
        tokens = max(tokens, 0)
        if requests is not None:
            requests.refill(elapsed)
            wait = requests.wait_for(1.0)
            if wait > 0:
                return self._refuse("requests", requests, wait, 1)
        if token_bucket is not None:
            token_bucket.refill(elapsed)
            if tokens > token_bucket.capacity:
                return self._refuse("tokens", token_bucket, token_bucket.reset_in(), tokens)
            wait = token_bucket.wait_for(tokens)
            if wait > 0:
                return self._refuse("tokens", token_bucket, wait, tokens)
        if requests is not None:
            requests.level -= 1.0
        if token_bucket is not None:
            token_bucket.level -= tokens
        return Decision(True, 0.0, self._headers())

    def _refuse(
        self, kind: Literal["requests", "tokens"], bucket: _Bucket, wait: float, requested: int
    ) -> Decision:
        headers = self._headers()
        headers["retry-after"] = str(max(1, math.ceil(wait)))
        headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        return Decision(
            False,
            wait,
            headers,
            kind=kind,
            limit=int(bucket.capacity),
            remaining=int(bucket.level),
            requested=requested,
        )

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for kind, bucket in (("requests", self._requests), ("tokens", self._tokens)):
            if bucket is None:
                continue
            headers[f"x-ratelimit-limit-{kind}"] = str(int(bucket.capacity))
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, int(bucket.level)))
            headers[f"x-ratelimit-reset-{kind}"] = format_duration(bucket.reset_in())
        return headers


def rate_limit_error_body(
    decision: Decision, *, model: str, organization: str = "org-emulator"
) -> dict[str, Any]:
    """The 429 body OpenAI sends for a refused ``decision``.

    ``type`` is ``"requests"`` or ``"tokens"`` and ``code`` is
    ``"rate_limit_exceeded"``; a request larger than the whole TPM limit gets
    the "Request too large" wording.
    """
    kind = decision.kind or "requests"
    unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
    if kind == "tokens" and decision.requested > decision.limit:
        message = (
            f"Request too large for {model} in organization {organization} on {unit}: "
            f"Limit {decision.limit}, Requested {decision.requested}. The input or output "
            f"tokens must be reduced in order to run successfully. Visit {_RATE_LIMIT_DOCS} "
            "to learn more."
        )
    else:
        used = max(0, decision.limit - decision.remaining)
        message = (
            f"Rate limit reached for {model} in organization {organization} on {unit}: "
            f"Limit {decision.limit}, Used {used}, Requested {decision.requested}. "
            f"Please try again in {format_duration(decision.retry_after_s)}. "
            f"Visit {_RATE_LIMIT_DOCS} to learn more."
        )
    return error_envelope(message, type=kind, code="rate_limit_exceeded")
