"""Result rows: one line of a batch output or error file, from either provider.

Both providers write JSONL lines of the same shape::

    {"id": "batch_req_…",            # OpenAI only; Azure lines have no id
     "custom_id": "r1",
     "response": {"status_code": 200, "request_id": "…", "body": {…}} | null,
     "error": {"code": "batch_expired", "message": "…"} | null}

An HTTP failure keeps ``error`` null and nests the provider's error envelope in
``response.body``; a row that never ran (expiry, cancel) has ``response`` null and a
top-level ``error``. :class:`ResultRow` exposes both through one ``error`` field.
Azure chat bodies carry content-filter annotations; they stay in ``body`` untouched.
Azure writes a 0-byte error file on success, which simply yields no rows.

Files reach 200 MB, so everything here streams: :func:`aiter_lines` splits an async
iterator of byte chunks into lines without ever joining the whole file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from batchport.backends.base import Usage
from batchport.errors import InputError

__all__ = [
    "ResultRow",
    "RowError",
    "Source",
    "aiter_lines",
    "aiter_result_rows",
    "parse_result_line",
]

Source = Literal["output", "error"]

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row did not succeed: a non-HTTP error (``batch_expired``) or the error object
    inside a 4xx/5xx response body. ``code`` may be None when the provider sent none."""

    code: str | None
    message: str
    type: str | None = None
    param: str | None = None


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One parsed line of an output or error file.

    ``status_code`` is the row's HTTP status, or None when the row never ran (then
    ``error.code`` says why, e.g. ``batch_expired``). ``body`` is the exact synchronous
    response body (an error envelope for 4xx/5xx). ``source`` is the file the line came
    from. ``raw`` is the line as received, without its line terminator.
    """

    custom_id: str
    status_code: int | None
    body: Mapping[str, Any] | None
    error: RowError | None
    request_id: str | None
    source: Source
    id: str | None = None
    raw: bytes = field(default=b"", repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the row ran and answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def usage(self) -> Usage | None:
        """Token usage from the body (responses, chat or embeddings shape), if any."""
        raw = self.body.get("usage") if self.body is not None else None
        if not isinstance(raw, Mapping):
            return None
        inp = _int(raw.get("input_tokens", raw.get("prompt_tokens")))
        out = _int(raw.get("output_tokens", raw.get("completion_tokens")))
        in_details = raw.get("input_tokens_details") or raw.get("prompt_tokens_details")
        out_details = raw.get("output_tokens_details") or raw.get("completion_tokens_details")
        cached = _int(in_details.get("cached_tokens")) if isinstance(in_details, Mapping) else 0
        reasoning = (
            _int(out_details.get("reasoning_tokens")) if isinstance(out_details, Mapping) else 0
        )
        return Usage(inp, out, cached, reasoning)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _bad(rule: str, message: str, path: str | None, line: int | None) -> InputError:
    return InputError(message, path=path, line=line, rule=rule)


def parse_result_line(
    raw: bytes,
    *,
    source: Source | None = None,
    path: str | None = None,
    line: int | None = None,
) -> ResultRow:
    """Parse one output/error line of either provider into a :class:`ResultRow`.

    ``source`` names the file the line came from; when None it is inferred ("output"
    for a 2xx row, "error" otherwise). ``path`` and ``line`` only label errors.

    Raises :class:`InputError` with one of these rules: ``result_invalid_json`` (not
    JSON), ``result_not_object``, ``result_missing_custom_id`` (absent, empty or not a
    string), ``result_bad_response`` (``response`` not an object with an integer
    ``status_code``, or a ``body`` that is neither an object nor null),
    ``result_bad_error`` (``error`` not an object with a string ``message``), and
    ``result_no_outcome`` (both ``response`` and ``error`` are null).
    """
    try:
        obj = orjson.loads(raw.removeprefix(_BOM))
    except orjson.JSONDecodeError as exc:
        raise _bad("result_invalid_json", f"line is not valid JSON ({exc})", path, line) from None
    if not isinstance(obj, dict):
        raise _bad("result_not_object", "line is not a JSON object", path, line)
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise _bad("result_missing_custom_id", "custom_id missing or not a string", path, line)
    status_code, body, request_id = _parse_response(obj.get("response"), path, line)
    error = _parse_error(obj.get("error"), path, line)
    if status_code is None and error is None:
        raise _bad("result_no_outcome", "neither response nor error is set", path, line)
    if error is None and status_code is not None and not 200 <= status_code < 300:
        error = _error_from_body(body, status_code)
    if source is None:
        source = "output" if error is None and status_code is not None else "error"
    return ResultRow(
        custom_id=custom_id,
        status_code=status_code,
        body=body,
        error=error,
        request_id=request_id,
        source=source,
        id=_opt_str(obj.get("id")),
        raw=bytes(raw),
    )


def _parse_response(
    resp: object, path: str | None, line: int | None
) -> tuple[int | None, dict[str, Any] | None, str | None]:
    if resp is None:
        return None, None, None
    if not isinstance(resp, dict):
        raise _bad("result_bad_response", "response is not an object", path, line)
    code = resp.get("status_code")
    if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 599:
        raise _bad("result_bad_response", "response.status_code is not an HTTP status", path, line)
    body = resp.get("body")
    if body is not None and not isinstance(body, dict):
        raise _bad("result_bad_response", "response.body is not an object", path, line)
    return code, body, _opt_str(resp.get("request_id"))


def _parse_error(err: object, path: str | None, line: int | None) -> RowError | None:
    if err is None:
        return None
    if not isinstance(err, dict) or not isinstance(err.get("message"), str):
        raise _bad("result_bad_error", "error is not an object with a message", path, line)
    return RowError(
        code=_opt_str(err.get("code")),
        message=err["message"],
        type=_opt_str(err.get("type")),
        param=_opt_str(err.get("param")),
    )


def _error_from_body(body: Mapping[str, Any] | None, status_code: int) -> RowError:
    """The error object nested in a 4xx/5xx body (OpenAI and Azure envelopes alike)."""
    inner = body.get("error") if body is not None else None
    if isinstance(inner, Mapping):
        message = inner.get("message")
        return RowError(
            code=_opt_str(inner.get("code")),
            message=message if isinstance(message, str) else f"HTTP {status_code}",
            type=_opt_str(inner.get("type")),
            param=_opt_str(inner.get("param")),
        )
    return RowError(code=None, message=f"HTTP {status_code}")


async def aiter_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Split byte chunks into lines (without ``\\n`` or ``\\r\\n``), streaming.

    A line may straddle any number of chunks; only the unfinished line is buffered.
    A final line without a terminator is yielded too. Empty lines are yielded as ``b""``
    (callers decide whether they matter).
    """
    pending: list[bytes] = []
    async for chunk in chunks:
        start = 0
        while (nl := chunk.find(b"\n", start)) >= 0:
            piece = chunk[start:nl]
            if pending:
                pending.append(piece)
                piece = b"".join(pending)
                pending.clear()
            yield piece[:-1] if piece.endswith(b"\r") else piece
            start = nl + 1
        if start < len(chunk):
            pending.append(chunk[start:])
    if pending:
        last = b"".join(pending)
        yield last[:-1] if last.endswith(b"\r") else last


async def aiter_result_rows(
    chunks: AsyncIterator[bytes], *, source: Source, path: str | None = None
) -> AsyncIterator[ResultRow]:
    """Parse a whole output or error file, streamed, into rows; blank lines are skipped.

    ``path`` (e.g. the file id) labels errors, which carry the 1-based line number.
    Raises :class:`InputError` on the first malformed line (see :func:`parse_result_line`).
    """
    lineno = 0
    async for raw in aiter_lines(chunks):
        lineno += 1
        if raw.strip():
            yield parse_result_line(raw, source=source, path=path, line=lineno)
