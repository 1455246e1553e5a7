"""Client-side rate limits: token buckets for requests and tokens per minute.

A bucket holds up to ``capacity`` units and refills continuously at ``capacity / 60``
units a second, like the provider's own limiter. :meth:`TokenBucket.reserve` books
units *now* and says how long the caller must wait before using them; the level may go
negative, which queues later callers behind earlier ones in arrival order. So many
concurrent workers never stampede: each learns its own start time once, and sleeps
through the injected clock.

:class:`RateLimiter` combines the two buckets with a shared pause, set when the server
answers 429 with ``retry-after``: every worker then waits it out, not only the one that
was refused.
"""

from __future__ import annotations

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
        now = clock.now()
        self.requests = TokenBucket(rpm, now) if rpm else None
        self.tokens = TokenBucket(tpm, now) if tpm else None
        self._paused_until = now
        self.waited_s = 0.0

    def delay_for(self, tokens: int) -> float:
        """Book one request of ``tokens`` estimated tokens; seconds to wait before sending."""
        now = self.clock.now()
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
