"""Gemini batch results and ``generateContent`` answers, judged into neutral rows.

A finished batch returns one item per request, keyed by the caller's ``key``, inline
(inside the operation) or as lines of a generated file::

    {"key": "r1", "response": {…a GenerateContentResponse…}}      # file line
    {"key": "r2", "error": {"code": 3, "message": "…", "details": []}}
    {"response": {…}, "metadata": {"key": "r1"}}                   # inline item
    {"error": {…}, "metadata": {"key": "r2"}}

Rows are joined by key, never by position (inline results have been seen out of order).

The verdict:

- a response: by its first candidate's ``finishReason``: ``STOP`` (or none) ->
  ``SUCCEEDED``; ``MAX_TOKENS`` -> ``TRUNCATED``; ``SAFETY``, ``RECITATION``,
  ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``, ``IMAGE_SAFETY`` and a prompt blocked
  with no candidate -> ``CONTENT_FILTERED``; any other reason (``MALFORMED_FUNCTION_CALL``,
  ``OTHER``…) -> ``FAILED``, worth another try. Never retryable otherwise.
- an error of code 1 (``CANCELLED``: the batch was cancelled before the row ran):
  ``CANCELLED`` with code ``batch_cancelled``, as the other providers' rows are; not
  retryable (whether a cancelled row runs again is the runner's call).
- any other error (a ``google.rpc.Status``): ``FAILED``; the code maps to an HTTP status
  (:data:`HTTP_OF_CODE`; a code that already is an HTTP status is kept) and the row is
  retryable for 408, 409, 429 and 5xx (``DEADLINE_EXCEEDED``, ``ABORTED``,
  ``RESOURCE_EXHAUSTED``, ``INTERNAL``, ``UNAVAILABLE``, ``UNKNOWN``).

Usage: ``promptTokenCount`` (which includes ``cachedContentTokenCount``) plus
``toolUsePromptTokenCount`` is input; ``candidatesTokenCount`` plus
``thoughtsTokenCount`` (thinking is billed as output) is output, the latter also
counted as reasoning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchport.backends.lines import load_result_line
from batchport.backends.models import Outcome, ResultRow, RowError, Usage
from batchport.errors import ResultLineError

__all__ = [
    "HTTP_OF_CODE",
    "output_text",
    "parse_item",
    "parse_line",
    "row_from_answer",
    "usage_of",
]

#: google.rpc.Code -> the HTTP status it stands for
HTTP_OF_CODE: Mapping[int, int] = {
    1: 499,  # CANCELLED
    2: 500,  # UNKNOWN
    3: 400,  # INVALID_ARGUMENT
    4: 504,  # DEADLINE_EXCEEDED
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    7: 403,  # PERMISSION_DENIED
    8: 429,  # RESOURCE_EXHAUSTED
    9: 400,  # FAILED_PRECONDITION
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    13: 500,  # INTERNAL
    14: 503,  # UNAVAILABLE
    15: 500,  # DATA_LOSS
    16: 401,  # UNAUTHENTICATED
}
_RETRYABLE_HTTP = frozenset({408, 409, 429, 499})
#: google.rpc code CANCELLED: a row its batch's cancel stopped
_CANCELLED = 1
_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
_OK = frozenset({"STOP", "FINISH_REASON_UNSPECIFIED", ""})


def _int(value: object) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdigit():  # int64 travels as a string
        return int(value)
    return 0


def usage_of(value: object) -> Usage | None:
    """The neutral usage of a ``usageMetadata`` object (None when there is none)."""
    if not isinstance(value, Mapping):
        return None
    thoughts = _int(value.get("thoughtsTokenCount"))
    return Usage(
        input_tokens=_int(value.get("promptTokenCount"))
        + _int(value.get("toolUsePromptTokenCount")),
        output_tokens=_int(value.get("candidatesTokenCount")) + thoughts,
        cached_tokens=_int(value.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def _first_candidate(response: Mapping[str, Any]) -> Mapping[str, Any] | None:
    candidates = response.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], Mapping):
        return candidates[0]
    return None


def output_text(response: Mapping[str, Any]) -> str | None:
    """The text parts of the first candidate (thoughts left out), joined."""
    cand = _first_candidate(response)
    content = cand.get("content") if cand is not None else None
    parts = content.get("parts") if isinstance(content, Mapping) else None
    if not isinstance(parts, list):
        return None
    texts = [
        p["text"]
        for p in parts
        if isinstance(p, Mapping) and isinstance(p.get("text"), str) and not p.get("thought")
    ]
    return "".join(texts) if texts else None


def _verdict(response: Mapping[str, Any]) -> tuple[Outcome, bool, RowError | None]:
    cand = _first_candidate(response)
    if cand is None:
        feedback = response.get("promptFeedback")
        reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
        if reason:
            msg = f"the prompt was blocked ({reason})"
            return Outcome.CONTENT_FILTERED, False, RowError(str(reason), msg)
        return Outcome.FAILED, True, RowError("no_candidate", "the answer has no candidate")
    finish = cand.get("finishReason")
    finish = finish if isinstance(finish, str) else ""
    if finish in _OK:
        return Outcome.SUCCEEDED, False, None
    message = f"the model stopped with finishReason {finish}"
    if finish == "MAX_TOKENS":
        return Outcome.TRUNCATED, False, RowError(finish, message)
    if finish in _FILTERED:
        return Outcome.CONTENT_FILTERED, False, RowError(finish, message)
    return Outcome.FAILED, True, RowError(finish, message)


def _row_from_response(
    key: str,
    response: Mapping[str, Any],
    *,
    raw: bytes,
    body_path: tuple[str, ...],
    source: str,
    line: int | None,
) -> ResultRow:
    outcome, retryable, error = _verdict(response)
    return ResultRow(
        key,
        outcome,
        retryable=retryable,
        error=error,
        status_code=200,
        body=response,
        text=output_text(response),
        usage=usage_of(response.get("usageMetadata")),
        raw=raw,
        body_path=body_path,
        source=source,
        line=line,
    )


def _row_from_status(
    key: str,
    status: Mapping[str, Any],
    *,
    raw: bytes,
    body_path: tuple[str, ...],
    source: str,
    line: int | None,
    http: int | None = None,
) -> ResultRow:
    code = _int(status.get("code"))
    message = status.get("message")
    if code == _CANCELLED and http is None:
        text = message if isinstance(message, str) and message else "the batch was cancelled"
        return ResultRow(
            key,
            Outcome.CANCELLED,
            retryable=False,
            error=RowError("batch_cancelled", text, type="CANCELLED"),
            status_code=None,
            body=status,
            raw=raw,
            body_path=body_path,
            source=source,
            line=line,
        )
    if http is None:
        http = code if code >= 100 else HTTP_OF_CODE.get(code, 500)
    name = status.get("status")
    text = message if isinstance(message, str) and message else f"HTTP {http}"
    err_code = name if isinstance(name, str) and name else f"http_{http}"
    return ResultRow(
        key,
        Outcome.FAILED,
        retryable=http in _RETRYABLE_HTTP or http >= 500,
        error=RowError(err_code, text, type=err_code),
        status_code=http,
        body=status,
        raw=raw,
        body_path=body_path,
        source=source,
        line=line,
    )


def parse_item(
    item: object, *, raw: bytes = b"", source: str = "", line: int | None = None
) -> ResultRow:
    """Judge one result: a file line's object (``key``) or an inline item
    (``metadata.key``). Raises :class:`ResultLineError` (rules ``result_not_object``,
    ``result_missing_key``, ``result_no_outcome``)."""

    def bad(rule: str, message: str) -> ResultLineError:
        return ResultLineError(message, source=source, line=line, rule=rule, provider="gemini")

    if not isinstance(item, dict):
        raise bad("result_not_object", "result is not a JSON object")
    key = item.get("key")
    meta = item.get("metadata")
    if key is None and isinstance(meta, dict):
        key = meta.get("key")
    if not isinstance(key, str) or not key:
        raise bad("result_missing_key", "result has no key (metadata.key)")
    response, error = item.get("response"), item.get("error") or item.get("status")
    if isinstance(error, dict) and error.get("code") not in (None, 0):
        return _row_from_status(key, error, raw=raw, body_path=("error",), source=source, line=line)
    if isinstance(response, dict):
        return _row_from_response(
            key, response, raw=raw, body_path=("response",), source=source, line=line
        )
    raise bad("result_no_outcome", "result has neither a response nor an error")


def parse_line(raw: bytes, *, source: str = "", line: int | None = None) -> ResultRow:
    """Parse and judge one line of a result file (rule ``result_invalid_json`` besides
    those of :func:`parse_item`)."""

    def bad(rule: str, message: str) -> ResultLineError:
        return ResultLineError(message, source=source, line=line, rule=rule, provider="gemini")

    return parse_item(load_result_line(raw, bad), raw=raw, source=source, line=line)


def row_from_answer(custom_id: str, status: int | None, body: Any) -> ResultRow:
    """Judge a realtime ``generateContent`` answer as a batch row would be (``status``
    None: no answer came, worth another try)."""
    if status is None:
        err = RowError("connection_error", "the connection failed before an answer came")
        return ResultRow(custom_id, Outcome.FAILED, True, err)
    if 200 <= status < 300 and isinstance(body, Mapping):
        return _row_from_response(custom_id, body, raw=b"", body_path=(), source="", line=None)
    envelope = body.get("error") if isinstance(body, Mapping) else None
    status_obj = envelope if isinstance(envelope, Mapping) else {}
    return _row_from_status(
        custom_id, status_obj, raw=b"", body_path=(), source="", line=None, http=status
    )
