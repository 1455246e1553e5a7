"""Reading results back: one typed :class:`RunResult` per input request.

Bodies are not kept in the ledger: each settled row records the byte range of its
line in a downloaded result file, and is read from there on demand, so iterating a
million results holds one line at a time.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import pydantic

from batchport.backends.base import Usage
from batchport.backends.results import RowError, parse_result_line
from batchport.jsonl import atomic_writer
from batchport.runner.outcomes import Outcome
from batchport.store import RowRecord, Store

__all__ = ["RunResult", "iter_results", "write_results"]


@dataclass(frozen=True, slots=True)
class RunResult:
    """The reconciled result of one request.

    ``outcome`` is final. ``body`` is the provider's response body (an error envelope
    for a failed HTTP row; None when the row never ran). ``parsed`` holds the pydantic
    object for requests built with ``parse(...)`` whose outcome is ``succeeded``; if
    the text does not fit the model, ``parsed`` is None and ``error.code`` is
    ``parse_error``. ``attempts`` counts submissions (2+ means it was retried).
    """

    index: int
    custom_id: str
    outcome: Outcome
    status_code: int | None
    body: Mapping[str, Any] | None
    error: RowError | None
    attempts: int
    usage: Usage
    parsed: Any = None
    raw: bytes = field(default=b"", repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED and self.error is None

    @property
    def retried(self) -> bool:
        return self.attempts > 1

    @property
    def text(self) -> str | None:
        """The model's output text (chat message content or responses output_text)."""
        return output_text(self.body)


def output_text(body: Mapping[str, Any] | None) -> str | None:
    if not body:
        return None
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        msg = choices[0].get("message")
        if isinstance(msg, Mapping) and isinstance(msg.get("content"), str):
            return str(msg["content"])
        text = choices[0].get("text")
        return text if isinstance(text, str) else None
    parts: list[str] = []
    for item in body.get("output") or ():
        if isinstance(item, Mapping) and item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, Mapping) and part.get("type") == "output_text":
                    parts.append(str(part.get("text", "")))
    return "".join(parts) if parts else None


class _LineReader:
    """Reads byte ranges from result files, keeping a few handles open."""

    def __init__(self) -> None:
        self._open: dict[str, IO[bytes]] = {}

    def read(self, path: str, offset: int, length: int) -> bytes:
        f = self._open.get(path)
        if f is None:
            if len(self._open) >= 8:
                self._open.pop(next(iter(self._open))).close()
            f = self._open[path] = Path(path).open("rb")  # noqa: SIM115 - closed by close()
        f.seek(offset)
        return f.read(length)

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()


def _to_result(rec: RowRecord, reader: _LineReader, models: Mapping[str, type] | None) -> RunResult:
    body: Mapping[str, Any] | None = None
    error: RowError | None = None
    raw = b""
    if rec.result_path is not None and rec.result_offset is not None and rec.result_length:
        raw = reader.read(rec.result_path, rec.result_offset, rec.result_length).rstrip(b"\r\n")
        row = parse_result_line(raw)
        body, error = row.body, row.error
    outcome = Outcome(rec.outcome) if rec.outcome else Outcome.MISSING
    if error is None and rec.error_code and outcome is not Outcome.SUCCEEDED:
        error = RowError(rec.error_code, rec.error_message or rec.error_code)
    parsed = None
    model = models.get(rec.custom_id) if models else None
    if model is not None and outcome is Outcome.SUCCEEDED:
        parsed, error = _parse(model, body)
    usage = Usage(rec.input_tokens, rec.output_tokens, rec.cached_tokens, rec.reasoning_tokens)
    return RunResult(
        rec.idx,
        rec.custom_id,
        outcome,
        rec.status_code,
        body,
        error,
        rec.attempt,
        usage,
        parsed,
        raw,
    )


@functools.lru_cache(maxsize=128)
def _adapter(model: type) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(model)


def _parse(model: type, body: Mapping[str, Any] | None) -> tuple[Any, RowError | None]:
    text = output_text(body)
    if text is None:
        return None, RowError("parse_error", "the response holds no output text to parse")
    try:
        return _adapter(model).validate_json(text), None
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        return None, RowError("parse_error", f"output does not fit {model.__name__}: {first}")


def iter_results(
    store: Store,
    run_id: str,
    *,
    order: str = "input",
    models: Mapping[str, type] | None = None,
) -> Iterator[RunResult]:
    """Every request's result, in input order or in the order rows settled."""
    if order not in ("input", "landed"):
        raise ValueError("order must be 'input' or 'landed'")
    reader = _LineReader()
    try:
        for rec in store.iter_rows(run_id, order=order):
            yield _to_result(rec, reader, models)
    finally:
        reader.close()


_CSV_FIELDS = (
    "index",
    "custom_id",
    "outcome",
    "status_code",
    "attempts",
    "error_code",
    "error_message",
    "input_tokens",
    "output_tokens",
    "text",
)


def _flat(r: RunResult) -> dict[str, Any]:
    return {
        "index": r.index,
        "custom_id": r.custom_id,
        "outcome": r.outcome.value,
        "status_code": r.status_code,
        "attempts": r.attempts,
        "error_code": (r.error.code or r.error.type) if r.error else None,
        "error_message": r.error.message if r.error else None,
        "input_tokens": r.usage.input_tokens,
        "output_tokens": r.usage.output_tokens,
        "text": r.text,
    }


def write_results(results: Iterator[RunResult], path: str | Path, fmt: str = "jsonl") -> int:
    """Write results to ``path`` (atomically) as JSONL (with bodies) or CSV; return rows."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError("format must be 'jsonl' or 'csv'")
    n = 0
    with atomic_writer(path) as out:
        if fmt == "csv":
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            writer = csv.DictWriter(text, fieldnames=_CSV_FIELDS)
            writer.writeheader()
            for r in results:
                writer.writerow(_flat(r))
                n += 1
            text.flush()
            text.detach()
            return n
        for r in results:
            row = _flat(r)
            row["body"] = r.body
            if r.parsed is not None and isinstance(r.parsed, pydantic.BaseModel):
                row["parsed"] = r.parsed.model_dump(mode="json")
            out.write(orjson.dumps(row) + b"\n")
            n += 1
    return n
