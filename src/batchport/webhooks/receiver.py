"""One delivery in, one decision out: verify, refuse replays, read the event.

No HTTP here; :mod:`batchport.webhooks.app` puts this behind an aiohttp route.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from batchport.webhooks.errors import ReplayedWebhook
from batchport.webhooks.events import BatchEvent, parse_event
from batchport.webhooks.replay import ReplayMemory
from batchport.webhooks.verify import DEFAULT_TOLERANCE_S, WebhookClock, WebhookVerifier

__all__ = ["WebhookReceiver"]


class WebhookReceiver:
    """Verifies deliveries and turns the authentic ones into :class:`BatchEvent`.

    :meth:`receive` either returns (an event, or None for an authentic event of
    another kind) or raises a :class:`~batchport.webhooks.errors.WebhookRejected`.
    A delivery's id is remembered only once it is accepted, so a delivery refused for
    a bad body can be sent again, and a forged one cannot block a genuine id.
    """

    __slots__ = ("_replays", "verifier")

    def __init__(
        self,
        secret: str,
        *,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        clock: WebhookClock = time.time,
        max_ids: int = 100_000,
    ) -> None:
        self.verifier = WebhookVerifier(secret, tolerance_s=tolerance_s, clock=clock)
        self._replays = ReplayMemory(max_ids)

    def __repr__(self) -> str:
        return f"WebhookReceiver({self.verifier!r}, max_ids={self._replays.max_ids})"

    def receive(self, body: bytes, headers: Mapping[str, str]) -> BatchEvent | None:
        """Raises InvalidSignature, StaleTimestamp, ReplayedWebhook or InvalidEvent."""
        checked = self.verifier.verify(body, headers)
        now = self.verifier.clock()
        if self._replays.seen(checked.event_id, now):
            raise ReplayedWebhook("this webhook-id was already accepted")
        event = parse_event(body, event_id=checked.event_id, received_at=now)
        expires_at = checked.timestamp + self.verifier.tolerance_s
        self._replays.remember(checked.event_id, expires_at, now)
        return event
