"""A bounded, time-limited memory of accepted ``webhook-id`` values."""

from __future__ import annotations

import heapq

__all__ = ["ReplayMemory"]


class ReplayMemory:
    """Remembers each id until its expiry time (unix seconds), at most ``max_ids`` at once.

    A captured delivery only verifies while its timestamp is within the tolerance, so an
    id is kept until ``timestamp + tolerance``; after that the signature check alone
    refuses a replay. When the memory is full the id that expires first is forgotten
    (its replay would then be accepted once more: a duplicate event, never a forged one).
    """

    __slots__ = ("_expiry", "_heap", "max_ids")

    def __init__(self, max_ids: int = 100_000) -> None:
        if max_ids < 1:
            raise ValueError("max_ids must be at least 1")
        self.max_ids = max_ids
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def seen(self, event_id: str, now: float) -> bool:
        """Whether ``event_id`` is remembered and not yet expired at ``now``."""
        expiry = self._expiry.get(event_id)
        return expiry is not None and expiry >= now

    def remember(self, event_id: str, expires_at: float, now: float) -> None:
        """Keep ``event_id`` until ``expires_at``, dropping expired ids first."""
        self._drop_expired(now)
        while len(self._expiry) >= self.max_ids and event_id not in self._expiry:
            self._pop_first()
        self._expiry[event_id] = max(expires_at, self._expiry.get(event_id, expires_at))
        heapq.heappush(self._heap, (self._expiry[event_id], event_id))

    def _drop_expired(self, now: float) -> None:
        while self._heap and self._heap[0][0] < now:
            self._pop_first()

    def _pop_first(self) -> None:
        expiry, event_id = heapq.heappop(self._heap)
        # a heap entry is stale when the id was remembered again with a later expiry
        if self._expiry.get(event_id) == expiry:
            del self._expiry[event_id]
