"""Event-driven time for emulated benchmarks: an event loop that skips idle waits.

:class:`WarpLoop` is an asyncio selector loop whose clock runs at real speed while
anything has work to do, and jumps straight to the next timer when every task is
waiting on one: no socket is readable, no callback is ready, no executor job is
running. The client (its poll intervals, rate-limit waits, retry-after pauses) and an
embedded emulator (its latency sleeps, batch queue and row throughput) share this loop,
so a run that emulates ten hours of waiting takes only the machine's own processing
time. Each jump is also applied to the emulator's virtual clock through
:meth:`WarpLoop.on_jump`, which keeps the two clocks equal when the emulator runs at
scale 1.

Emulated time measured this way is therefore: modelled waits (exact) plus this
machine's real processing time (at face value). Nothing is scaled or estimated.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any, TypeVar

__all__ = ["LoopClock", "WarpLoop", "new_warp_loop"]

T = TypeVar("T")
JumpListener = Callable[[float], None]


class _WarpSelector(selectors.BaseSelector):
    """Delegates to the default selector; turns an idle timed wait into a jump."""

    def __init__(self) -> None:
        self._inner = selectors.DefaultSelector()
        self.loop: WarpLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self.loop
        if loop is None or timeout is None or timeout <= 0:
            return self._inner.select(timeout)
        ready = self._inner.select(0)
        if ready:
            return ready
        if loop.busy_executors:
            # A worker thread will wake the loop through its self-pipe: wait for real.
            return self._inner.select(timeout)
        loop.jump(timeout)
        return []


class WarpLoop(asyncio.SelectorEventLoop):
    """A selector event loop with a jumping clock (see the module docstring).

    ``time()`` is ``time.monotonic()`` plus the sum of all jumps (seconds).
    """

    def __init__(self) -> None:
        selector = _WarpSelector()
        super().__init__(selector)
        selector.loop = self
        self._offset = 0.0
        self.busy_executors = 0
        self.jumps = 0
        self.jumped_s = 0.0
        self._listeners: list[JumpListener] = []

    def time(self) -> float:
        return time.monotonic() + self._offset

    def jump(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` and tell every listener."""
        self._offset += seconds
        self.jumps += 1
        self.jumped_s += seconds
        for listener in list(self._listeners):
            listener(seconds)

    def on_jump(self, listener: JumpListener) -> Callable[[], None]:
        """Call ``listener(seconds)`` after every jump; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self.busy_executors += 1
        future.add_done_callback(self._executor_done)
        return future

    def _executor_done(self, _future: asyncio.Future[Any]) -> None:
        self.busy_executors -= 1


def new_warp_loop() -> WarpLoop:
    """A fresh :class:`WarpLoop` (a ``loop_factory`` for :class:`asyncio.Runner`)."""
    return WarpLoop()


class LoopClock:
    """The runner's :class:`~batchport.runner.Clock` on the running loop's time, so its
    sleeps are jumped over by a :class:`WarpLoop` (and are real on any other loop)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
