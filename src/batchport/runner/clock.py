"""Injected time. The runner never calls ``time`` or ``asyncio.sleep`` directly.

``SystemClock`` is the real thing; ``InstantClock`` advances virtual time by the
amount asked and only yields to the event loop, so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "InstantClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (only differences are meaningful)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class InstantClock:
    """Virtual time: ``sleep(s)`` adds ``s`` to :meth:`now` and yields once.

    ``real_sleep`` (seconds, default 0) is slept for real on each call, which lets a
    test give a real server time to make progress between polls.
    """

    def __init__(self, start: float = 0.0, *, real_sleep: float = 0.0) -> None:
        self._now = start
        self.real_sleep = real_sleep
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        self._now += seconds
        await asyncio.sleep(self.real_sleep)
