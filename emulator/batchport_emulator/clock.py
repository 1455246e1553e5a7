"""A virtual clock: wall time that can be scaled, frozen, moved and set.

``now()`` returns Unix seconds. Between changes it runs at ``scale`` virtual
seconds per real second, so ``scale=3600`` turns an hour into a second and
``scale=0`` freezes time until :meth:`VirtualClock.advance` moves it. Listeners
registered with :meth:`VirtualClock.subscribe` hear about every jump, which is
how background work waiting for a virtual deadline wakes up early.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Listener = Callable[[], None]


class VirtualClock:
    """Virtual Unix time. ``real`` is a monotonic source in seconds (injectable)."""

    def __init__(
        self,
        *,
        scale: float = 1.0,
        start: float | None = None,
        real: Callable[[], float] = time.monotonic,
    ) -> None:
        if scale < 0:
            raise ValueError("clock scale must be >= 0")
        self._real = real
        self._scale = scale
        self._anchor_virtual = time.time() if start is None else start
        self._anchor_real = real()
        self._listeners: list[Listener] = []
        self._wall = start is None and scale == 1.0

    @property
    def tracks_wall(self) -> bool:
        """Whether this clock has only ever followed wall time (never moved or scaled)."""
        return self._wall

    @property
    def scale(self) -> float:
        """Virtual seconds per real second (0 = frozen)."""
        return self._scale

    def now(self) -> float:
        """Current virtual Unix time in seconds."""
        return self._anchor_virtual + (self._real() - self._anchor_real) * self._scale

    def _rebase(self, virtual: float) -> None:
        self._wall = False
        self._anchor_virtual = virtual
        self._anchor_real = self._real()
        for listener in list(self._listeners):
            listener()

    def advance(self, seconds: float) -> None:
        """Jump forward by ``seconds`` of virtual time (negative is refused)."""
        if seconds < 0:
            raise ValueError("cannot advance the clock by a negative amount")
        self._rebase(self.now() + seconds)

    def set(self, timestamp: float) -> None:
        """Jump to a Unix time; going backwards is allowed but rarely wise."""
        self._rebase(float(timestamp))

    def resume(self, timestamp: float) -> None:
        """Continue from ``timestamp`` (a restart); never moves the clock backwards."""
        if timestamp > self.now():
            self._rebase(timestamp)

    def set_scale(self, scale: float) -> None:
        """Change the rate, keeping the current virtual time continuous."""
        if scale < 0:
            raise ValueError("clock scale must be >= 0")
        now = self.now()
        self._scale = scale
        self._rebase(now)

    def real_delay(self, virtual_seconds: float) -> float:
        """Real seconds until ``virtual_seconds`` of virtual time have passed.

        A frozen clock (scale 0) never gets there by itself; this returns ``inf``
        and callers decide (the latency model treats frozen time as no delay).
        """
        if virtual_seconds <= 0:
            return 0.0
        if self._scale == 0:
            return float("inf")
        return virtual_seconds / self._scale

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener()`` after every jump or scale change."""
        self._listeners.append(listener)
