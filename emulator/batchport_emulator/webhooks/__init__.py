"""Signed webhooks on terminal batch transitions.

:mod:`.events` builds each dialect's event body and the Standard Webhooks headers;
:mod:`.dispatch` queues deliveries, sends them from a background task on the server's
loop, retries on the virtual clock and applies the webhook faults.
"""

from __future__ import annotations

from batchport_emulator.webhooks.dispatch import (
    Attempt,
    Delivery,
    Post,
    SendError,
    WebhookDispatcher,
)
from batchport_emulator.webhooks.events import Event, batch_event, signed_headers

__all__ = [
    "Attempt",
    "Delivery",
    "Event",
    "Post",
    "SendError",
    "WebhookDispatcher",
    "batch_event",
    "signed_headers",
]
