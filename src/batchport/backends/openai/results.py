"""OpenAI (and Azure) result lines, judged into neutral :class:`ResultRow` s.

Both providers write JSONL lines of the same shape::

    {"id": "batch_req_…",            # OpenAI only; Azure lines have no id
     "custom_id": "r1",
     "response": {"status_code": 200, "request_id": "…", "body": {…}} | null,
     "error": {"code": "batch_expired", "message": "…"} | null}

An HTTP failure keeps ``error`` null and nests the provider's error envelope in
``response.body``; a row that never ran (expiry, cancel) has ``response`` null and a
top-level ``error``. Azure chat bodies carry content-filter annotations; they stay in
``body`` untouched.

The verdict:

- never ran: ``batch_expired`` -> ``EXPIRED`` (retryable); ``batch_cancelled`` ->
  ``CANCELLED`` (not retryable: whether a cancelled row runs again is the runner's
  call); anything else -> ``FAILED``;
- 2xx: ``SUCCEEDED``, or ``REFUSED``, ``TRUNCATED``, ``CONTENT_FILTERED`` by the body
  (see :mod:`batchport.backends.openai.bodies`); never retryable;
- otherwise ``FAILED``, retryable for 408, 409, 429 and 5xx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

import orjson

from batchport.backends._convert import usage_from, usage_numbers
from batchport.backends.compact import PlainRow, as_result_row
from batchport.backends.lines import load_result_line, result_custom_id
from batchport.backends.models import Outcome, ResultRow, RowError
from batchport.backends.openai.bodies import judge_success, output_text
from batchport.errors import ResultLineError

__all__ = [
    "BODY_PATH",
    "RETRYABLE_STATUS",
    "parse_line",
    "read_line",
    "read_lines",
    "row_from_response",
]

#: HTTP statuses worth resubmitting (5xx always are).
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
#: where a row's body sits in its parsed line
BODY_PATH = ("response", "body")
_loads = orjson.loads
_plain_row = partial(tuple.__new__, PlainRow)  # no Python call per row
_JSONDecodeError = orjson.JSONDecodeError
_NOT_RUN = {
    "batch_expired": (Outcome.EXPIRED, True),
    "batch_cancelled": (Outcome.CANCELLED, False),
}


def parse_line(
    raw: bytes, *, source: str = "", line: int | None = None, provider: str = "openai"
) -> ResultRow:
    """Parse and judge one line of an output or error file. ``source`` (a file id) and
    ``line`` (1-based) label the row and any error.

    Raises :class:`ResultLineError` with one of these rules: ``result_invalid_json``,
    ``result_not_object``, ``result_missing_custom_id`` (absent, empty or not a
    string), ``result_bad_response`` (``response`` not an object with an HTTP
    ``status_code``, or a ``body`` that is neither an object nor null),
    ``result_bad_error`` (``error`` not an object with a string ``message``) and
    ``result_no_outcome`` (both ``response`` and ``error`` null).
    """
    row = read_line(raw, source=source, line=line, provider=provider)
    return as_result_row(row) if isinstance(row, PlainRow) else row


def read_line(
    raw: bytes, *, source: str = "", line: int | None = None, provider: str = "openai"
) -> ResultRow | PlainRow:
    """:func:`parse_line`, except that a plain success (a chat completion that ran and
    stopped as asked) comes as a :class:`~batchport.backends.compact.PlainRow`."""
    try:
        obj = _loads(raw)
    except _JSONDecodeError:  # a leading BOM, or not JSON: worded by _general
        obj = None
    if type(obj) is dict:
        plain = _plain(obj, raw, source, line)
        if plain is not None:
            return plain
    return _general(obj, raw, source, line, provider)


def read_lines(
    lines: Iterable[bytes],
    first: int,
    rows: list[ResultRow | PlainRow],
    *,
    source: str,
    provider: str = "openai",
) -> None:
    """:func:`read_line` for each line of ``lines`` that is not blank (the lines are
    numbered from ``first``), appended to ``rows``: a downloaded chunk's lines in one
    call. A line that cannot be read raises, once the rows before it are appended."""
    append, loads, plain = rows.append, _loads, _plain
    for lineno, raw in enumerate(lines, first):
        if not raw.strip():
            continue
        try:
            obj = loads(raw)
        except _JSONDecodeError:
            obj = None
        row = plain(obj, raw, source, lineno) if type(obj) is dict else None
        append(_general(obj, raw, source, lineno, provider) if row is None else row)


def _general(obj: object, raw: bytes, source: str, line: int | None, provider: str) -> ResultRow:
    """The line judged the general way (``obj``: its JSON, None if it did not parse)."""

    def bad(rule: str, message: str) -> ResultLineError:
        return ResultLineError(message, source=source, line=line, rule=rule, provider=provider)

    if type(obj) is not dict:
        obj = load_result_line(raw, bad)
    custom_id = result_custom_id(obj, bad)
    status_code, body = _response(obj.get("response"), bad)
    err = obj.get("error")
    if err is not None and (not isinstance(err, dict) or not isinstance(err.get("message"), str)):
        raise bad("result_bad_error", "error is not an object with a message")
    error = _row_error(err) if err is not None else None
    if status_code is not None:
        return _ran(custom_id, status_code, body, error, raw=bytes(raw), source=source, line=line)
    if error is None:
        raise bad("result_no_outcome", "neither response nor error is set")
    return _not_run(custom_id, error, raw=bytes(raw), source=source, line=line)


def _plain(obj: dict[str, Any], raw: bytes, source: str, line: int | None) -> PlainRow | None:
    """The line as a plain success, judged without the general path's detours; None
    for any other line (the general path judges it, and words any error). A line it
    takes is one the general path judges ``SUCCEEDED`` with the same fields."""
    custom_id, resp = obj.get("custom_id"), obj.get("response")
    if type(custom_id) is not str or not custom_id or type(resp) is not dict:
        return None
    if obj.get("error") is not None:
        return None
    code, body = resp.get("status_code"), resp.get("body")
    if type(code) is not int or not 200 <= code < 300 or type(body) is not dict:
        return None
    choices = body.get("choices")
    if type(choices) is not list or not choices:
        return None
    choice = choices[0]
    if type(choice) is not dict:
        return None
    reason = choice.get("finish_reason")
    if reason == "length" or reason == "content_filter":
        return None
    message = choice.get("message")
    if type(message) is not dict or message.get("refusal"):
        return None
    text = message.get("content")
    if type(text) is not str:
        return None
    usage = body.get("usage")
    numbers = usage_numbers(usage) if type(usage) is dict else None
    return _plain_row((custom_id, code, text, body, numbers, bytes(raw), BODY_PATH, source, line))


def _response(
    resp: object, bad: Callable[[str, str], ResultLineError]
) -> tuple[int | None, dict[str, Any] | None]:
    if resp is None:
        return None, None
    if not isinstance(resp, dict):
        raise bad("result_bad_response", "response is not an object")
    code = resp.get("status_code")
    if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 599:
        raise bad("result_bad_response", "response.status_code is not an HTTP status")
    body = resp.get("body")
    if body is not None and not isinstance(body, dict):
        raise bad("result_bad_response", "response.body is not an object")
    return code, body


def row_from_response(
    custom_id: str,
    status_code: int | None,
    body: Any,
    *,
    source: str = "",
    line: int | None = None,
) -> ResultRow:
    """Judge one synchronous answer as a batch would (the realtime executor's rows).

    ``status_code`` None means no answer came (connection dropped, timeout): ``FAILED``,
    retryable, code ``connection_error``. A ``body`` that is not an object counts as
    none. ``raw`` is the equivalent batch result line.
    """
    if status_code is None:
        err = {"code": "connection_error", "message": "the connection failed before an answer came"}
        raw = orjson.dumps({"custom_id": custom_id, "response": None, "error": err})
        return ResultRow(
            custom_id,
            Outcome.FAILED,
            retryable=True,
            error=_row_error(err),
            raw=raw,
            source=source,
            line=line,
        )
    body = body if isinstance(body, Mapping) else None
    response = {"status_code": status_code, "body": body}
    raw = orjson.dumps({"custom_id": custom_id, "response": response, "error": None})
    return _ran(custom_id, status_code, body, None, raw=raw, source=source, line=line)


def _ran(
    custom_id: str,
    status_code: int,
    body: Mapping[str, Any] | None,
    error: RowError | None,
    *,
    raw: bytes,
    source: str,
    line: int | None,
) -> ResultRow:
    if 200 <= status_code < 300:
        outcome, error = judge_success(body or {})
        retryable = False
    else:
        outcome, error = Outcome.FAILED, error or _error_from_body(body, status_code)
        retryable = status_code in RETRYABLE_STATUS or status_code >= 500
    return ResultRow(
        custom_id,
        outcome,
        retryable=retryable,
        error=error,
        status_code=status_code,
        body=body,
        text=output_text(body),
        usage=usage_from(body.get("usage")) if body is not None else None,
        raw=raw,
        body_path=BODY_PATH,
        source=source,
        line=line,
    )


def _not_run(
    custom_id: str, error: RowError, *, raw: bytes, source: str, line: int | None
) -> ResultRow:
    outcome, retryable = _NOT_RUN.get(error.code or "", (Outcome.FAILED, False))
    return ResultRow(custom_id, outcome, retryable, error, raw=raw, source=source, line=line)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _row_error(err: Mapping[str, Any]) -> RowError:
    """A line's top-level error; without a code it is ``unknown_error``."""
    return RowError(
        code=_opt_str(err.get("code")) or "unknown_error",
        message=str(err.get("message", "")),
        type=_opt_str(err.get("type")),
        param=_opt_str(err.get("param")),
    )


def _error_from_body(body: Mapping[str, Any] | None, status_code: int) -> RowError:
    """The error nested in a 4xx/5xx body (OpenAI and Azure envelopes alike). Its code
    is the envelope's ``code``, else its ``type``, else ``http_<status>``."""
    inner = body.get("error") if body is not None else None
    if not isinstance(inner, Mapping):
        return RowError(code=f"http_{status_code}", message=f"HTTP {status_code}")
    message = inner.get("message")
    code = _opt_str(inner.get("code")) or _opt_str(inner.get("type"))
    return RowError(
        code=code or f"http_{status_code}",
        message=message if isinstance(message, str) else f"HTTP {status_code}",
        type=_opt_str(inner.get("type")),
        param=_opt_str(inner.get("param")),
    )
