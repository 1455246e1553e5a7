"""Client-side rate limits: token buckets for requests and tokens per minute.

A bucket holds up to ``capacity`` units and refills continuously at ``capacity / 60``
units a second, like the provider's own limiter. :meth:`TokenBucket.reserve` books
units *now* and says how long the caller must wait before using them; the level may go
negative, which queues later callers behind earlier ones in arrival order. So many
concurrent workers never stampede: each learns its own start time once, and sleeps
through the injected clock.

:class:`RateLimiter` combines the two buckets with a shared pause, set when the server
answers 429 with ``retry-after``: every worker then waits it out, not only the one that
was refused. Processes sending under one set of limits (workers serving one run's
deadline fallback) each take their share of it (:meth:`RateLimiter.share`), recounted as
they come and go (:meth:`RateLimiter.count_sharers`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from batchport.runner.clock import Clock

__all__ = ["RateLimiter", "TokenBucket"]

WINDOW_S = 60.0


@dataclass(slots=True)
class TokenBucket:
    """A token bucket of ``capacity`` units refilled over ``window_s`` seconds.

    Times are seconds on the caller's clock. The bucket starts full at ``start``.
    """

    capacity: float
    start: float = 0.0
    window_s: float = WINDOW_S
    level: float = field(init=False)
    _last: float = field(init=False)

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.window_s <= 0:
            raise ValueError("capacity and window_s must be positive")
        self.level = float(self.capacity)
        self._last = self.start

    @property
    def rate(self) -> float:
        """Units added per second."""
        return self.capacity / self.window_s

    def _refill(self, now: float) -> None:
        if now > self._last:
            self.level = min(self.capacity, self.level + (now - self._last) * self.rate)
            self._last = now

    def reserve(self, amount: float, now: float) -> float:
        """Book ``amount`` units at ``now``; return the seconds to wait before using them.

        An amount larger than the whole capacity is let through once the bucket is full
        (the provider then decides), so a caller never waits forever.
        """
        self._refill(now)
        need = min(float(amount), self.capacity)
        wait = max(0.0, (need - self.level) / self.rate)
        self.level -= amount
        return wait

    def resize(self, capacity: float, now: float) -> None:
        """Hold ``capacity`` units from ``now`` on (refilled at its own rate); units
        booked beyond it stay booked, and what is held above it is let go."""
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._refill(now)
        self.capacity = float(capacity)
        self.level = min(self.level, self.capacity)

    def available(self, now: float) -> float:
        """Units that could be used at ``now`` without waiting (may be negative)."""
        self._refill(now)
        return self.level


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets plus a shared 429 pause.

    ``rpm``/``tpm`` of None mean no limit on that dimension. All waits go through
    ``clock``; nothing here reads the system time.
    """

    def __init__(self, rpm: int | None, tpm: int | None, clock: Clock) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive integer or None, got {value}")
        self.clock = clock
        self.rpm, self.tpm = rpm, tpm
        now = clock.now()
        self.requests = TokenBucket(rpm, now) if rpm else None
        self.tokens = TokenBucket(tpm, now) if tpm else None
        self._paused_until = now
        self.waited_s = 0.0
        #: how many limiters share ``rpm`` and ``tpm`` (see :meth:`share`)
        self.shared_by = 1
        self._count: Callable[[], int] | None = None
        self._count_every_s = 0.0
        self._counted_at = now

    def count_sharers(self, count: Callable[[], int], every_s: float) -> None:
        """Share the limits among ``count()`` limiters: counted now, and again whenever
        a request is booked ``every_s`` seconds (on the clock) or more after the last
        count. ``count`` is called in the caller's thread and must not raise."""
        self._count, self._count_every_s = count, every_s
        self._counted_at = self.clock.now()
        self.share(count())

    def share(self, n: int) -> None:
        """Take a ``1/n`` share of ``rpm`` and ``tpm``, for ``n`` processes sending
        under one set of limits, each through a limiter of its own."""
        n = max(1, int(n))
        if n == self.shared_by:
            return
        self.shared_by = n
        now = self.clock.now()
        if self.requests is not None and self.rpm:
            self.requests.resize(self.rpm / n, now)
        if self.tokens is not None and self.tpm:
            self.tokens.resize(self.tpm / n, now)

    def delay_for(self, tokens: int) -> float:
        """Book one request of ``tokens`` estimated tokens; seconds to wait before sending."""
        now = self.clock.now()
        if self._count is not None and now - self._counted_at >= self._count_every_s:
            self._counted_at = now
            self.share(self._count())
        wait = max(0.0, self._paused_until - now)
        if self.requests is not None:
            wait = max(wait, self.requests.reserve(1, now))
        if self.tokens is not None:
            wait = max(wait, self.tokens.reserve(tokens, now))
        return wait

    async def acquire(self, tokens: int) -> float:
        """Wait (on the clock) until one request of ``tokens`` may go; return the wait."""
        wait = self.delay_for(tokens)
        if wait > 0:
            self.waited_s += wait
            await self.clock.sleep(wait)
        # A 429 may have paused everyone while this caller slept.
        extra = self._paused_until - self.clock.now()
        if extra > 0:
            self.waited_s += extra
            await self.clock.sleep(extra)
            wait += extra
        return wait

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (the server asked us to back off)."""
        self._paused_until = max(self._paused_until, self.clock.now() + max(0.0, seconds))
