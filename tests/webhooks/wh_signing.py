"""Signing deliveries as a Standard Webhooks sender does (the openai SDK only verifies)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

SECRET = "whsec_" + base64.b64encode(b"a test signing key of 32 bytes!!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another key, not the endpoint's.").decode()
NOW = 1_750_000_000  # the injected clock's reading, unix seconds


def signature(secret: str, event_id: str, timestamp: int | str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{event_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(
    body: bytes, *, event_id: str = "msg_1", timestamp: int = NOW, secret: str = SECRET
) -> dict[str, str]:
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, event_id, timestamp, body),
    }


def openai_event(event_type: str = "batch.completed", batch_id: str = "batch_abc") -> bytes:
    payload: dict[str, Any] = {
        "id": "evt_123",
        "object": "event",
        "type": event_type,
        "created_at": NOW - 5,
        "data": {"id": batch_id},
    }
    return json.dumps(payload).encode()


def gemini_event(
    event_type: str = "batch.succeeded",
    batch_id: str = "batches/xyz",
    user_metadata: dict[str, Any] | None = None,
) -> bytes:
    payload: dict[str, Any] = {"type": event_type, "data": {"id": batch_id}}
    if user_metadata is not None:
        payload["user_metadata"] = user_metadata
    return json.dumps(payload).encode()
