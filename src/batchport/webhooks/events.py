"""Batch webhook events from OpenAI and Gemini, read into one neutral shape.

==========  ==========================================  =============  ==========
provider    event types                                 ``data.id``    extras
==========  ==========================================  =============  ==========
openai      batch.completed|failed|expired|cancelled    ``batch_…``    created_at
gemini      batch.succeeded|failed|expired (cancelled)  ``batches/…``  user_metadata
==========  ==========================================  =============  ==========

Both payloads are thin: the receiver learns which batch changed, then asks the provider
for its details. The provider is told apart by the batch id (Gemini's are resource
names, ``batches/…``). ``batch.cancelled`` for Gemini appears in its docs but not in its
SDK's list; it is read like the others.

An authentic event of any other type (``response.completed``, ``interaction.*``,
``video.generated``...) is accepted and ignored: refusing it would only make the
provider retry it for a day or more and, in the end, disable the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from batchport.webhooks.errors import InvalidEvent

__all__ = ["BatchEvent", "EventType", "Provider", "parse_event"]

Provider = Literal["openai", "gemini"]
EventType = Literal["completed", "failed", "expired", "cancelled"]

_TYPES: dict[Provider, dict[str, EventType]] = {
    "openai": {
        "batch.completed": "completed",
        "batch.failed": "failed",
        "batch.expired": "expired",
        "batch.cancelled": "cancelled",
    },
    "gemini": {
        "batch.succeeded": "completed",
        "batch.failed": "failed",
        "batch.expired": "expired",
        "batch.cancelled": "cancelled",
    },
}
_BATCH_TYPES = frozenset(name for table in _TYPES.values() for name in table)


@dataclass(frozen=True, slots=True)
class BatchEvent:
    """A batch reached a terminal state, as one provider's webhook said.

    ``type`` is the neutral state (Gemini's ``batch.succeeded`` reads ``completed``) and
    ``raw_type`` the provider's own. ``event_id`` is the ``webhook-id`` header, the key
    replays are refused by. ``received_at`` is the receiver's clock (unix seconds) when
    the delivery was accepted. ``user_metadata`` is what a Gemini job's webhook config
    asked to be echoed (None for OpenAI). ``raw`` keeps the parsed body.
    """

    provider: Provider
    type: EventType
    batch_id: str
    event_id: str
    received_at: float
    user_metadata: Mapping[str, Any] | None = None
    raw_type: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def parse_event(body: bytes, *, event_id: str, received_at: float) -> BatchEvent | None:
    """The batch event in a verified body, or None for an event of another kind.

    Raises :class:`InvalidEvent` when the body is not a JSON object with a string
    ``type``, or a batch event has no string ``data.id``.
    """
    try:
        payload = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        raise InvalidEvent("the body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise InvalidEvent("the body is not an event object with a type")
    raw_type: str = payload["type"]
    if raw_type not in _BATCH_TYPES:
        return None
    data = payload.get("data")
    batch_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(batch_id, str) or not batch_id:
        raise InvalidEvent(f"{raw_type} event without data.id")
    provider: Provider = "gemini" if batch_id.startswith("batches/") else "openai"
    neutral = _TYPES[provider].get(raw_type)
    if neutral is None:  # e.g. batch.succeeded about an OpenAI-style id
        return None
    metadata = payload.get("user_metadata")
    return BatchEvent(
        provider=provider,
        type=neutral,
        batch_id=batch_id,
        event_id=event_id,
        received_at=received_at,
        user_metadata=metadata if isinstance(metadata, dict) else None,
        raw_type=raw_type,
        raw=payload,
    )
