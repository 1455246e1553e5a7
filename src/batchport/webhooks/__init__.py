"""Receive the batch webhooks OpenAI and Gemini send (Standard Webhooks, signed).

- :class:`WebhookReceiver`: verify one delivery and read it into a :class:`BatchEvent`
  (no HTTP; for any web framework).
- :func:`make_app`: the same behind an aiohttp route, for embedding in a service.
- ``batchport webhooks serve``: that app on its own, printing each event, and with
  ``--store`` marking the shards running the batch as woken (:func:`store_waker`).
- :class:`WebhookOptions`: ``bp.run(..., webhooks=...)`` serves the receiver for the
  run's length; each event has the shard running its batch poll at once, and polling
  otherwise falls back to a long interval (see :mod:`batchport.runner.wake`).
"""

from __future__ import annotations

from batchport.webhooks.app import DEFAULT_MAX_BODY, EventCallback, make_app
from batchport.webhooks.errors import (
    InvalidEvent,
    InvalidSignature,
    ReplayedWebhook,
    StaleTimestamp,
    WebhookRejected,
)
from batchport.webhooks.events import BatchEvent, EventType, Provider, parse_event
from batchport.webhooks.options import WebhookOptions
from batchport.webhooks.receiver import WebhookReceiver
from batchport.webhooks.replay import ReplayMemory
from batchport.webhooks.serve import serving, store_waker
from batchport.webhooks.verify import DEFAULT_TOLERANCE_S, WebhookClock, WebhookVerifier

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_TOLERANCE_S",
    "BatchEvent",
    "EventCallback",
    "EventType",
    "InvalidEvent",
    "InvalidSignature",
    "Provider",
    "ReplayMemory",
    "ReplayedWebhook",
    "StaleTimestamp",
    "WebhookClock",
    "WebhookOptions",
    "WebhookReceiver",
    "WebhookRejected",
    "WebhookVerifier",
    "make_app",
    "parse_event",
    "serving",
    "store_waker",
]
