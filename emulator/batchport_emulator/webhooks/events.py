"""Event bodies and signatures.

OpenAI and Azure send ``{"object": "event", "id": "evt_...", "type": "batch.<status>",
"created_at": <unix>, "data": {"id": "batch_..."}}`` for ``completed``, ``failed``,
``expired`` and ``cancelled`` (openai-batch-api.md section 6). Gemini sends the thin
``{"type": "batch.succeeded|failed|expired", "data": {"id": "batches/..."}}`` plus the
create's ``webhook_config.user_metadata`` (gemini-and-others.md section 2.8); its SDK
lists no cancelled event, so a cancelled Gemini batch sends none. Anthropic has no batch
webhooks.

Both follow Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` = ``v1,`` + base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"``,
keyed by the base64-decoded part of the ``whsec_`` secret after the prefix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson

from batchport_emulator.batches import Batch
from batchport_emulator.lifecycle import TIMESTAMP_FIELD, Status

_OPENAI_TYPES = {
    Status.COMPLETED: "batch.completed",
    Status.FAILED: "batch.failed",
    Status.EXPIRED: "batch.expired",
    Status.CANCELLED: "batch.cancelled",
}
_GEMINI_TYPES = {
    Status.COMPLETED: "batch.succeeded",
    Status.FAILED: "batch.failed",
    Status.EXPIRED: "batch.expired",
}
#: dialects whose batches send OpenAI-shaped events
OPENAI_SHAPED = frozenset({"openai", "azure"})


@dataclass(frozen=True, slots=True)
class Event:
    """One event: its ``webhook-id``, type, the batch it names, and the exact body sent."""

    id: str
    type: str
    batch_id: str
    dialect: str
    body: bytes


def batch_event(batch: Batch, event_id: str) -> Event | None:
    """The event for ``batch``'s terminal status in its dialect, or ``None`` if it sends none."""
    if batch.dialect in OPENAI_SHAPED and batch.status in _OPENAI_TYPES:
        kind = _OPENAI_TYPES[batch.status]
        at = batch.timestamps.get(TIMESTAMP_FIELD[batch.status])
        payload: dict[str, Any] = {
            "object": "event",
            "id": event_id,
            "type": kind,
            "created_at": int(batch.stage_since) if at is None else at,
            "data": {"id": batch.id},
        }
        return Event(event_id, kind, batch.id, batch.dialect, orjson.dumps(payload))
    if batch.dialect == "gemini" and batch.status in _GEMINI_TYPES:
        kind = _GEMINI_TYPES[batch.status]
        name = "batches/" + batch.id
        payload = {"type": kind, "data": {"id": name}}
        if batch.webhook_user_metadata is not None:
            payload["user_metadata"] = batch.webhook_user_metadata
        return Event(event_id, kind, name, batch.dialect, orjson.dumps(payload))
    return None


def signature(body: bytes, event_id: str, timestamp: int, key: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``"{event_id}.{timestamp}.{body}"``."""
    mac = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(event: Event, timestamp: int, key: bytes | None) -> dict[str, str]:
    """The request headers for one attempt; without a key, no ``webhook-signature``."""
    headers = {
        "content-type": "application/json",
        "user-agent": "batchport-emulator-webhooks",
        "webhook-id": event.id,
        "webhook-timestamp": str(timestamp),
    }
    if key is not None:
        headers["webhook-signature"] = signature(event.body, event.id, timestamp, key)
    return headers
