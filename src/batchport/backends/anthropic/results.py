"""Anthropic result lines and Messages bodies, judged into neutral :class:`ResultRow` s.

A Message Batch returns one JSONL stream with every request exactly once::

    {"custom_id": "r1", "result": {"type": "succeeded", "message": {…a Message…}}}
    {"custom_id": "r2", "result": {"type": "errored",
                                   "error": {"type": "error",
                                             "error": {"type": "overloaded_error", …}}}}
    {"custom_id": "r3", "result": {"type": "canceled"}}
    {"custom_id": "r4", "result": {"type": "expired"}}

The verdict:

- ``succeeded``: by the message's ``stop_reason``: ``end_turn``, ``stop_sequence`` and
  ``tool_use`` -> ``SUCCEEDED``; ``max_tokens`` and ``model_context_window_exceeded``
  -> ``TRUNCATED``; ``pause_turn`` (a server-tool loop stopped half way) ->
  ``TRUNCATED``; ``refusal`` -> ``REFUSED``. Never retryable.
- ``errored``: ``FAILED`` with the provider's nested error type as the code; retryable
  only for the transient types (:data:`RETRYABLE_TYPES`). ``invalid_request_error``
  means the request must be fixed; billing and permission errors will not pass on
  their own either.
- ``canceled`` -> ``CANCELLED`` (whether it runs again is the runner's call);
  ``expired`` -> ``EXPIRED``, retryable.

Usage follows the neutral convention: ``input_tokens`` is every prompt token, so
Anthropic's cache reads and cache writes, which it counts apart, are added in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchport.backends.lines import load_result_line, result_custom_id
from batchport.backends.models import Outcome, ResultRow, RowError, Usage
from batchport.errors import ResultLineError

__all__ = [
    "RETRYABLE_TYPES",
    "STATUS_OF_TYPE",
    "output_text",
    "parse_line",
    "row_from_answer",
    "row_from_error",
    "row_from_message",
    "usage_of",
]

#: error types worth resubmitting: the service's trouble, not the request's
RETRYABLE_TYPES = frozenset({"api_error", "overloaded_error", "rate_limit_error", "timeout_error"})
#: the HTTP status each error type stands for (Anthropic's errors page)
STATUS_OF_TYPE: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_STOP: Mapping[str, tuple[Outcome, str | None]] = {
    "end_turn": (Outcome.SUCCEEDED, None),
    "stop_sequence": (Outcome.SUCCEEDED, None),
    "tool_use": (Outcome.SUCCEEDED, None),
    "max_tokens": (Outcome.TRUNCATED, "max_tokens"),
    "model_context_window_exceeded": (Outcome.TRUNCATED, "model_context_window_exceeded"),
    "pause_turn": (Outcome.TRUNCATED, "pause_turn"),
    "refusal": (Outcome.REFUSED, "refusal"),
}
_MESSAGE_PATH = ("result", "message")
_ERROR_PATH = ("result", "error")


def _int(value: object) -> int:
    return value if type(value) is int else 0


def usage_of(value: object) -> Usage | None:
    """The neutral usage of a Messages ``usage`` object (None when there is none)."""
    if not isinstance(value, Mapping):
        return None
    read = _int(value.get("cache_read_input_tokens"))
    written = _int(value.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=_int(value.get("input_tokens")) + read + written,
        output_tokens=_int(value.get("output_tokens")),
        cached_tokens=read,
        cache_write_tokens=written,
    )


def output_text(message: Mapping[str, Any]) -> str | None:
    """The text blocks of a Message, joined; None when it has none."""
    content = message.get("content")
    if not isinstance(content, list):
        return None
    parts = [
        b["text"]
        for b in content
        if isinstance(b, Mapping) and b.get("type") == "text" and isinstance(b.get("text"), str)
    ]
    return "".join(parts) if parts else None


def row_from_message(
    custom_id: str,
    message: Mapping[str, Any],
    *,
    raw: bytes = b"",
    body_path: tuple[str, ...] = (),
    source: str = "",
    line: int | None = None,
) -> ResultRow:
    """Judge a Message (a batch row's, or a realtime answer) by its ``stop_reason``."""
    stop = message.get("stop_reason")
    outcome, code = _STOP.get(stop if isinstance(stop, str) else "", (Outcome.SUCCEEDED, None))
    error = None
    if code is not None:
        error = RowError(code, f"the model stopped with stop_reason {stop!r}")
    return ResultRow(
        custom_id,
        outcome,
        error=error,
        status_code=200,
        body=message,
        text=output_text(message),
        usage=usage_of(message.get("usage")),
        raw=raw,
        body_path=body_path,
        source=source,
        line=line,
    )


def row_from_error(
    custom_id: str,
    envelope: Mapping[str, Any],
    *,
    raw: bytes = b"",
    body_path: tuple[str, ...] = (),
    source: str = "",
    line: int | None = None,
    status_code: int | None = None,
) -> ResultRow:
    """Judge an error envelope ``{"type": "error", "error": {type, message}}`` (the
    outer level may be missing, as in an edge-proxy answer)."""
    inner = envelope.get("error")
    err = inner if isinstance(inner, Mapping) else envelope
    etype = err.get("type") if isinstance(err.get("type"), str) else None
    message = err.get("message")
    text = message if isinstance(message, str) and message else (etype or "errored")
    status = status_code or STATUS_OF_TYPE.get(etype or "", 500)
    retryable = etype in RETRYABLE_TYPES if etype else status >= 500
    return ResultRow(
        custom_id,
        Outcome.FAILED,
        retryable=retryable,
        error=RowError(etype, text, type=etype),
        status_code=status,
        body=envelope,
        raw=raw,
        body_path=body_path,
        source=source,
        line=line,
    )


def row_from_answer(custom_id: str, status: int | None, body: Any) -> ResultRow:
    """Judge a realtime ``/v1/messages`` answer as a batch row would be: a 2xx Message
    by its ``stop_reason``, an error envelope by its type (``status`` None: no answer
    came, which is worth another try)."""
    if status is not None and 200 <= status < 300 and isinstance(body, Mapping):
        return row_from_message(custom_id, body)
    envelope = body if isinstance(body, Mapping) else {}
    if status is None:
        err = RowError("connection_error", "the connection failed before an answer came")
        return ResultRow(custom_id, Outcome.FAILED, True, err, body=envelope)
    return row_from_error(custom_id, envelope, status_code=status)


def parse_line(
    raw: bytes, *, source: str = "", line: int | None = None, provider: str = "anthropic"
) -> ResultRow:
    """Parse and judge one result line. Raises :class:`ResultLineError` with one of
    these rules: ``result_invalid_json``, ``result_not_object``,
    ``result_missing_custom_id``, ``result_bad_result`` (``result`` is not an object
    with a known ``type``, or its payload is missing)."""

    def bad(rule: str, message: str) -> ResultLineError:
        return ResultLineError(message, source=source, line=line, rule=rule, provider=provider)

    obj = load_result_line(raw, bad)
    custom_id = result_custom_id(obj, bad)
    result = obj.get("result")
    kind = result.get("type") if isinstance(result, dict) else None
    if kind == "succeeded":
        message = result.get("message") if isinstance(result, dict) else None
        if not isinstance(message, dict):
            raise bad("result_bad_result", "a succeeded result without a message object")
        return row_from_message(
            custom_id, message, raw=raw, body_path=_MESSAGE_PATH, source=source, line=line
        )
    if kind == "errored":
        envelope = result.get("error") if isinstance(result, dict) else None
        if not isinstance(envelope, dict):
            raise bad("result_bad_result", "an errored result without an error object")
        return row_from_error(
            custom_id, envelope, raw=raw, body_path=_ERROR_PATH, source=source, line=line
        )
    if kind == "canceled":
        err = RowError("batch_cancelled", "the batch was cancelled before the request ran")
        return ResultRow(custom_id, Outcome.CANCELLED, error=err, raw=raw, source=source, line=line)
    if kind == "expired":
        err = RowError("batch_expired", "the batch expired before the request ran")
        return ResultRow(custom_id, Outcome.EXPIRED, True, err, raw=raw, source=source, line=line)
    raise bad("result_bad_result", f"result.type {kind!r} is not one Anthropic sends")
