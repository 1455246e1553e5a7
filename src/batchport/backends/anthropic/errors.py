"""The one place where ``anthropic`` SDK exceptions become :mod:`batchport.errors` types.

Statuses map as for OpenAI (:mod:`batchport.backends._translate`): 400, 402, 413 and
other 4xx -> ``BadRequestError``; 401, 403 -> ``AuthenticationError``; 404 ->
``NotFoundError``; 409 -> ``ConflictError``; 429 -> ``RateLimitError``; 5xx and 529
(overloaded) -> ``ServerError``; connection and timeout -> ``TransportError``. The
error's ``code`` is Anthropic's ``error.type``; messages and payloads are redacted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import anthropic

from batchport.backends._translate import (
    _MAX_TEXT,
    _redact_obj,
    _scrub_sdk_exception,
    _status_class,
    header_error,
    parse_retry_after,
    redact,
    sdk_error,
)
from batchport.errors import BackendError, ConfigError

__all__ = ["translate_error", "translating"]


def _envelope(exc: anthropic.APIStatusError) -> dict[str, Any]:
    body = exc.body
    if isinstance(body, Mapping):
        return dict(body)
    if body is None:
        return {}
    return {"text": str(body)[:_MAX_TEXT]}


def _inner(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = payload.get("error")
    return inner if isinstance(inner, Mapping) else {}


def translate_error(
    exc: anthropic.AnthropicError, *, provider: str, secrets: Sequence[str] = ()
) -> BackendError | ConfigError:
    """Build the batchport error for an SDK exception (the caller chains it ``from exc``)."""
    _scrub_sdk_exception(exc, secrets)
    if isinstance(exc, anthropic.APIStatusError):
        payload = _redact_obj(_envelope(exc), secrets)
        inner = _inner(payload)
        etype = inner.get("type") if isinstance(inner.get("type"), str) else None
        text = inner.get("message")
        if not isinstance(text, str) or not text:
            text = payload.get("text") or f"HTTP {exc.status_code}"
        message = redact(str(text), secrets)
        return _status_class(exc.status_code, etype, message, payload)(
            message,
            provider=provider,
            status_code=exc.status_code,
            code=etype,
            request_id=exc.request_id,
            payload=payload,
            retry_after=parse_retry_after(exc.response.headers),
        )
    return sdk_error(exc, anthropic, provider=provider, secrets=secrets)


@contextmanager
def translating(provider: str, secrets: Sequence[str] = ()) -> Iterator[None]:
    """Translate SDK exceptions raised inside the block; everything else passes through."""
    try:
        yield
    except anthropic.AnthropicError as exc:
        raise translate_error(exc, provider=provider, secrets=secrets) from exc
    except UnicodeEncodeError:  # a header (the key) HTTP cannot carry; its text holds it
        raise header_error(provider) from None
