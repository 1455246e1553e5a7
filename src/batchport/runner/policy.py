"""Waiting policies: poll intervals, capped jittered backoff, and the token quota gate.

All waits go through an injected :class:`~batchport.runner.clock.Clock`; nothing here
sleeps on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from batchport.backends.models import QuotaLimit

__all__ = ["Backoff", "PollPolicy", "QuotaGate", "QuotaLimit"]


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often to ask a provider for a batch's status (seconds).

    The interval starts at ``interval``, grows by ``factor`` after every poll that saw
    no change, up to ``max_interval``, and drops back when the status or counts move.
    A provider's ``retry_after`` always wins when it asks for longer.
    """

    interval: float = 5.0
    max_interval: float = 60.0
    factor: float = 1.5
    #: a shard in ``validating`` or ``finalizing`` longer than this is stalled
    stall_timeout: float = 3600.0

    def next_interval(self, previous: float | None, *, changed: bool) -> float:
        if previous is None or changed:
            return self.interval
        return min(self.max_interval, previous * self.factor)


@dataclass(slots=True)
class Backoff:
    """Capped exponential backoff with full jitter: attempt n waits a uniform draw in
    ``[base * factor**n / 2, base * factor**n]``, never more than ``cap``."""

    base: float = 5.0
    factor: float = 2.0
    cap: float = 600.0
    rng: random.Random = field(default_factory=lambda: random.Random(0x5EED))

    def delay(self, attempt: int, *, at_least: float | None = None) -> float:
        ceiling = min(self.cap, self.base * self.factor ** max(0, attempt))
        wait = self.rng.uniform(ceiling / 2, ceiling)
        if at_least is not None:
            wait = max(wait, min(at_least, self.cap))
        return wait


class QuotaGate:
    """Keeps the estimated enqueued tokens in flight per key under its limit, and
    admits shards of one key in order (lower ``order`` first).

    A shard larger than the whole limit may still run alone, so that nothing waits
    forever; the provider then decides. When the provider refuses a shard for quota,
    :meth:`block` holds every later shard of that key back until the refused one is
    accepted (:meth:`unblock`), so shards are accepted in the order of submission.
    """

    def __init__(self, limits: Mapping[str, QuotaLimit] | None = None) -> None:
        self._limits = dict(limits or {})
        self._in_flight: dict[str, int] = {}
        self._waiting: dict[str, set[int]] = {}
        self._blockers: dict[str, set[int]] = {}
        self._turn: dict[str, int] = {}
        self._turn_waiting: dict[str, set[int]] = {}
        self._changed = asyncio.Condition()

    def limit(self, key: str) -> QuotaLimit | None:
        return self._limits.get(key)

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)

    def _fits(self, key: str, tokens: int) -> bool:
        lim = self._limits.get(key)
        if lim is None or lim.dynamic:
            return True
        used = self._in_flight.get(key, 0)
        return used == 0 or used + tokens <= lim.tokens

    def _admissible(self, key: str, tokens: int, order: int) -> bool:
        waiting = self._waiting.get(key)
        if waiting and min(waiting) < order:
            return False
        return self._fits(key, tokens)

    def _may_submit(self, key: str, order: int) -> bool:
        if key in self._turn:
            return False
        blockers = self._blockers.get(key)
        if blockers and order > min(blockers):
            return False  # a refused shard earlier in line goes first
        waiting = self._turn_waiting.get(key)
        return not waiting or min(waiting) >= order

    @contextlib.asynccontextmanager
    async def turn(self, key: str, order: int) -> AsyncIterator[None]:
        """Submit one shard of ``key`` at a time, lowest ``order`` first, never ahead
        of a refused shard (see :meth:`block`)."""
        async with self._changed:
            waiting = self._turn_waiting.setdefault(key, set())
            waiting.add(order)
            try:
                await self._changed.wait_for(lambda: self._may_submit(key, order))
            finally:
                waiting.discard(order)
            self._turn[key] = order
        try:
            yield
        finally:
            async with self._changed:
                if self._turn.get(key) == order:
                    del self._turn[key]
                self._changed.notify_all()

    async def acquire(self, key: str, tokens: int, order: int = 0) -> None:
        """Wait until ``tokens`` fit under ``key``'s limit and every lower ``order``
        waiting on the key has gone first, then count them in flight."""
        async with self._changed:
            waiting = self._waiting.setdefault(key, set())
            waiting.add(order)
            try:
                await self._changed.wait_for(lambda: self._admissible(key, tokens, order))
            finally:
                waiting.discard(order)
                self._changed.notify_all()
            self._in_flight[key] = self._in_flight.get(key, 0) + tokens

    def force_acquire(self, key: str, tokens: int) -> None:
        """Count tokens already in flight (a resumed batch), whatever the limit."""
        self._in_flight[key] = self._in_flight.get(key, 0) + tokens

    async def release(self, key: str, tokens: int) -> None:
        async with self._changed:
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - tokens)
            self._changed.notify_all()

    def block(self, key: str, order: int) -> None:
        """The shard ``order`` was refused for quota: later shards of ``key`` wait
        until it is accepted."""
        self._blockers.setdefault(key, set()).add(order)

    async def unblock(self, key: str, order: int) -> None:
        """The shard ``order`` was accepted (or given up): it no longer holds others back."""
        async with self._changed:
            self._blockers.get(key, set()).discard(order)
            self._changed.notify_all()
