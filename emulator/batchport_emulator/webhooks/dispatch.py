"""Queueing, sending and retrying webhook deliveries.

A terminal transition calls :meth:`WebhookDispatcher.batch_finished`, which only
records one :class:`Delivery` per destination URL and wakes the background task
(:meth:`WebhookDispatcher.run_forever`, started by the app, which also hands
in the HTTP client as :attr:`WebhookDispatcher.post`): request handling never
waits for a receiver. The task sends due deliveries one at a time, oldest first, so a
receiver sees events in the order they happened unless a fault says otherwise.

Each attempt is a POST of the event's exact bytes with freshly signed headers. A 2xx
answer delivers it; any other answer or a connection error schedules a retry after
``backoff_s * 2**(n-1)`` virtual seconds (at most ``backoff_max_s``), until
``max_attempts`` have failed. ``webhook-timestamp`` is wall time, since receivers check
it against their own clock; ``created_at`` in the body is the batch's virtual time.

Faults, drawn per delivery from the fault seed and the delivery's number: ``drop``
(never sent), ``delay`` (first attempt ``webhook_delay_s`` later), ``duplicate`` (sent
twice with the same ``webhook-id``) and ``reorder`` (held until a later delivery to the
same URL has been attempted, or ``webhook_delay_s`` has passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from batchport_emulator.batches import Batch
from batchport_emulator.clock import VirtualClock
from batchport_emulator.config import EmulatorConfig, signing_key, url_host_allowed
from batchport_emulator.faults import FaultPolicy
from batchport_emulator.webhooks.events import Event, batch_event, signed_headers

log = logging.getLogger(__name__)

DeliveryStatus = Literal["pending", "held", "delivered", "failed", "dropped", "refused"]
#: sends one POST: ``(url, body, headers, timeout_s)`` to the answer's status; raises
#: :class:`SendError` when no answer came (the HTTP layer provides it)
Post = Callable[[str, bytes, Mapping[str, str], float], Awaitable[int]]


class SendError(Exception):
    """A POST got no HTTP answer; the message names the kind (``ClientConnectorError``)."""


#: longest real wait between two looks at the queue (a frozen clock never wakes us)
_MAX_SLEEP_S = 5.0


@dataclass(slots=True)
class Attempt:
    """One POST: when (virtual seconds), and the answer's status or the error's name."""

    at: float
    status: int | None = None
    error: str | None = None


@dataclass(slots=True)
class Delivery:
    """One event on its way to one URL."""

    seq: int
    event: Event
    url: str
    status: DeliveryStatus
    next_at: float | None
    fault: str | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The control plane's view (no headers, so no signature)."""
        return {
            "id": f"whd_{self.seq}",
            "event_id": self.event.id,
            "type": self.event.type,
            "dialect": self.event.dialect,
            "batch_id": self.event.batch_id,
            "url": self.url,
            "status": self.status,
            "fault": self.fault,
            "next_attempt_at": self.next_at,
            "attempts": [{"at": a.at, "status": a.status, "error": a.error} for a in self.attempts],
            "event": orjson.loads(self.event.body),
        }


class WebhookDispatcher:
    """Every delivery this emulator made or will make; use from one event loop."""

    def __init__(
        self,
        *,
        config: Callable[[], EmulatorConfig],
        faults: Callable[[], FaultPolicy],
        clock: VirtualClock,
        new_id: Callable[[], str],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._faults = faults
        self._clock = clock
        self._new_id = new_id
        self._wall = wall
        self._deliveries: list[Delivery] = []
        self._seq = 0
        self._wake = asyncio.Event()
        #: how to send; until the app sets it, deliveries wait in the queue
        self.post: Post | None = None

    # -- queueing -------------------------------------------------------------------

    def batch_finished(self, batch: Batch) -> None:
        """Queue ``batch``'s terminal event for each destination (none: nothing to do)."""
        urls = self._config().webhooks.urls
        if batch.dialect == "gemini" and batch.webhook_uris is not None:
            urls = batch.webhook_uris  # a job's own URIs replace the registered ones
        if not urls:
            return
        event = batch_event(batch, "evt_" + self._new_id())
        if event is None:
            return
        for url in dict.fromkeys(urls):
            self._enqueue(event, url)
        self.wake()

    def _enqueue(self, event: Event, url: str) -> None:
        cfg = self._config()
        now = self._clock.now()
        self._seq += 1
        delivery = Delivery(self._seq, event, url, "pending", now)
        self._deliveries.append(delivery)
        if not url_host_allowed(url, cfg.webhooks.allowed_hosts):
            delivery.status, delivery.next_at = "refused", None
            log.warning("webhook to %s refused: not loopback or an allowed host", url[:200])
            return
        delivery.fault = self._faults().webhook_fault(delivery.seq)
        delay = cfg.faults.webhook_delay_s
        if delivery.fault == "drop":
            delivery.status, delivery.next_at = "dropped", None
        elif delivery.fault == "delay":
            delivery.next_at = now + delay
        elif delivery.fault == "reorder":
            delivery.status, delivery.next_at = "held", now + delay
        elif delivery.fault == "duplicate":
            self._seq += 1
            self._deliveries.append(Delivery(self._seq, event, url, "pending", now, "duplicate"))

    # -- sending ----------------------------------------------------------------------

    def wake(self) -> None:
        """Ask the background task to look at the queue again."""
        self._wake.set()

    def next_deadline(self) -> float | None:
        """Virtual time of the next attempt due, or ``None`` when nothing waits."""
        times = [d.next_at for d in self._deliveries if d.next_at is not None]
        return min(times, default=None)

    async def tick(self) -> float | None:
        """Attempt every delivery now due, oldest first; return :meth:`next_deadline`."""
        if self.post is None:
            return self.next_deadline()
        now = self._clock.now()
        due = [d for d in self._deliveries if d.next_at is not None and d.next_at <= now]
        for delivery in sorted(due, key=lambda d: (d.next_at or 0.0, d.seq)):
            if delivery.next_at is not None:  # a reset may have cleared it meanwhile
                await self._attempt(delivery)
        return self.next_deadline()

    async def run_forever(self) -> None:
        """The background loop; cancelled on shutdown."""
        while True:
            self._wake.clear()
            try:
                deadline = await self.tick()
            except Exception:  # keep serving even if one step breaks
                log.exception("webhook delivery step failed")
                deadline = self._clock.now() + 1.0
            timeout = _MAX_SLEEP_S
            if deadline is not None:
                timeout = min(self._clock.real_delay(deadline - self._clock.now()), timeout)
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def _attempt(self, delivery: Delivery) -> None:
        assert self.post is not None
        cfg = self._config().webhooks
        secret = cfg.secret
        key = signing_key(secret) if secret is not None else None
        headers = signed_headers(delivery.event, int(self._wall()), key)
        attempt = Attempt(at=self._clock.now())
        delivery.next_at = None  # in flight: a concurrent tick must not send it again
        try:
            attempt.status = await self.post(
                delivery.url, delivery.event.body, headers, cfg.timeout_s
            )
        except SendError as exc:
            attempt.error = str(exc)
        delivery.attempts.append(attempt)
        self._settle(delivery, attempt, cfg.max_attempts, cfg.backoff_s, cfg.backoff_max_s)
        self._release_held(delivery)

    def _settle(
        self, delivery: Delivery, attempt: Attempt, max_attempts: int, base: float, cap: float
    ) -> None:
        outcome = attempt.status if attempt.status is not None else attempt.error
        n = len(delivery.attempts)
        if attempt.status is not None and 200 <= attempt.status < 300:
            delivery.status, delivery.next_at = "delivered", None
        elif n >= max_attempts:
            delivery.status, delivery.next_at = "failed", None
            log.warning(
                "webhook %s to %s failed after %d attempts (last: %s)",
                delivery.event.type,
                delivery.url[:200],
                n,
                outcome,
            )
            return
        else:
            delivery.status = "pending"
            delivery.next_at = attempt.at + min(base * 2 ** (n - 1), cap)
        log.info(
            "webhook %s %s to %s: %s", delivery.event.type, delivery.event.id, delivery.url, outcome
        )

    def _release_held(self, sent: Delivery) -> None:
        """A held (reordered) delivery goes once a later one to its URL has gone."""
        now = self._clock.now()
        for held in self._deliveries:
            if held.status == "held" and held.url == sent.url and held.seq < sent.seq:
                held.status, held.next_at = "pending", now

    # -- control ----------------------------------------------------------------------

    def deliveries(self) -> list[Delivery]:
        """Every delivery, oldest first."""
        return list(self._deliveries)

    def summaries(self) -> list[dict[str, Any]]:
        """Every delivery in the control endpoint's shape, oldest first."""
        return [d.summary() for d in self._deliveries]

    def clear(self) -> None:
        """Forget every delivery (those not yet sent are never sent)."""
        for delivery in self._deliveries:
            delivery.next_at = None
        self._deliveries = []
