"""Standard Webhooks verification: the signature, the timestamp window, the secret.

The HMAC check itself is the official ``openai`` SDK's
(``client.webhooks.verify_signature``): the signed content is
``"{webhook-id}.{webhook-timestamp}.{body}"``, the key is the base64 text after
``whsec_``, and any ``v1,<base64>`` entry of ``webhook-signature`` may match, compared
in constant time. OpenAI and Gemini both sign this way, so one verifier serves both.

The SDK reads the wall clock itself, so its own window is opened wide and the window is
enforced here, on the injected clock, before the signature is checked.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from typing import Any

from batchport.errors import ConfigError
from batchport.webhooks.errors import InvalidSignature, StaleTimestamp

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "VerifiedHeaders",
    "WebhookClock",
    "WebhookVerifier",
    "check_secret",
]

WebhookClock = Callable[[], float]
"""Unix time in seconds (``time.time`` by default): webhook timestamps are wall-clock
times, unlike the runner's monotonic clock."""

DEFAULT_TOLERANCE_S = 300.0
_MAX_ID_CHARS = 256
_MAX_TIMESTAMP_DIGITS = 12
_MAX_SIGNATURE_CHARS = 4096
# Wide enough that the SDK's wall-clock check never fires: the window is checked here.
_SDK_WINDOW_S = 2**62
_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class VerifiedHeaders:
    """The two headers of a delivery whose signature and timestamp passed."""

    __slots__ = ("event_id", "timestamp")

    def __init__(self, event_id: str, timestamp: int) -> None:
        self.event_id = event_id
        self.timestamp = timestamp


class WebhookVerifier:
    """Checks one delivery's Standard Webhooks headers against a ``whsec_`` secret.

    ``tolerance_s`` (seconds) bounds how far ``webhook-timestamp`` may lie before or
    after ``clock()``. Raises :class:`~batchport.errors.ConfigError` at construction
    for an empty or undecodable secret. The secret never appears in a repr or an error.
    """

    __slots__ = ("_secret", "_webhooks", "clock", "tolerance_s")

    def __init__(
        self,
        secret: str,
        *,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        clock: WebhookClock = time.time,
    ) -> None:
        check_secret(secret)
        if tolerance_s < 0:
            raise ConfigError("the webhook timestamp tolerance must not be negative")
        from openai import OpenAI  # the SDK costs most of a second to import

        # The client is only a handle on the verifier: it holds no secret and never sends.
        self._webhooks = OpenAI(api_key="unused-by-the-webhook-verifier", max_retries=0).webhooks
        self._secret = secret
        self.tolerance_s = float(tolerance_s)
        self.clock = clock

    def __repr__(self) -> str:
        return f"WebhookVerifier(tolerance_s={self.tolerance_s:g})"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> VerifiedHeaders:
        """The delivery's id and timestamp once its window and signature hold.

        ``headers`` may use any letter case. Raises :class:`InvalidSignature` for a
        missing or malformed header or a signature that does not match, and
        :class:`StaleTimestamp` for a timestamp outside the tolerance.
        """
        found = _webhook_headers(headers)
        event_id, timestamp = found["webhook-id"], found["webhook-timestamp"]
        if not 0 < len(event_id) <= _MAX_ID_CHARS or not event_id.isprintable():
            raise InvalidSignature("webhook-id is empty, too long or not printable")
        signature = found["webhook-signature"]
        # base64 entries are ASCII, and hmac.compare_digest refuses any other text
        if len(signature) > _MAX_SIGNATURE_CHARS or not signature.isascii():
            raise InvalidSignature("webhook-signature is too long or not ASCII")
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise InvalidSignature("webhook-timestamp is not a whole number of seconds")
        if len(timestamp) > _MAX_TIMESTAMP_DIGITS:
            raise StaleTimestamp("webhook-timestamp is outside the tolerance")
        seconds = int(timestamp)
        if abs(self.clock() - seconds) > self.tolerance_s:
            raise StaleTimestamp("webhook-timestamp is outside the tolerance")
        try:
            self._webhooks.verify_signature(
                body, found, secret=self._secret, tolerance=_SDK_WINDOW_S
            )
        except ValueError:
            # the SDK's InvalidWebhookSignatureError, a body that is not UTF-8, ...
            raise InvalidSignature("no webhook signature matches") from None
        return VerifiedHeaders(event_id, seconds)


def _webhook_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers.items():
        key = str(name).lower()
        if key in _HEADERS and key not in found:
            if not isinstance(value, str):
                raise InvalidSignature(f"{key} is not text")
            found[key] = value.strip()
    missing = [k for k in _HEADERS if k not in found]
    if missing:
        raise InvalidSignature(f"missing header {missing[0]}")
    return found


def check_secret(secret: str) -> None:
    """Raises :class:`ConfigError` for an empty secret or a ``whsec_`` one that is not
    base64 (the message never repeats it)."""
    if not isinstance(secret, str) or not secret:
        raise ConfigError("the webhook secret is empty")
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("the webhook secret is not valid base64 after 'whsec_'") from None
        if not key:
            raise ConfigError("the webhook secret is empty after 'whsec_'")
