"""Why a webhook delivery was refused.

::

    BatchportError
    └── WebhookRejected        a delivery that is not acted on
        ├── InvalidSignature   headers missing or malformed, or no signature matches
        ├── StaleTimestamp     webhook-timestamp outside the tolerance, past or future
        ├── ReplayedWebhook    a webhook-id already accepted (answered 200, not acted on)
        └── InvalidEvent       authentic, but the body is not a JSON event object

Messages name the rule that failed and never the secret, the signature or the body.
"""

from __future__ import annotations

from batchport.errors import BatchportError

__all__ = [
    "InvalidEvent",
    "InvalidSignature",
    "ReplayedWebhook",
    "StaleTimestamp",
    "WebhookRejected",
]


class WebhookRejected(BatchportError):
    """A webhook delivery that was not acted on."""


class InvalidSignature(WebhookRejected):
    """A required header is missing or malformed, or no ``v1`` signature matches."""


class StaleTimestamp(WebhookRejected):
    """``webhook-timestamp`` is further from the clock than the tolerance allows."""


class ReplayedWebhook(WebhookRejected):
    """The ``webhook-id`` was accepted before, within its validity window."""


class InvalidEvent(WebhookRejected):
    """The signature holds but the body is not a JSON object with a ``type``, or a
    batch event lacks ``data.id``."""
