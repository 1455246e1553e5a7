"""Reading results back: one typed :class:`RunResult` per input request.

Bodies are not kept in the ledger: each settled row records where its line sits in
the shard's result blob (the runner's own line, see
:func:`batchport.runner.collect.encode_result`, mostly stored compressed, see
:mod:`batchport.runner.records`), and is read from there on demand, so iterating a
million results holds one line at a time. Nothing here knows a
provider's shape: the backend judged each row when it was collected.
"""

from __future__ import annotations

import csv
import functools
import io
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import pydantic

from batchport.backends.models import Outcome, ResultRow, RowError, Usage
from batchport.jsonl import atomic_writer
from batchport.runner.records import BlobRecords, DamagedBlobError
from batchport.store import RowRecord, RunStore
from batchport.store.blobs import BlobStore

__all__ = ["RunResult", "iter_results", "parse_output", "write_results"]


@dataclass(frozen=True, slots=True)
class RunResult:
    """The reconciled result of one request.

    ``outcome`` is final. ``body`` is the provider's response body (an error envelope
    for a failed HTTP row; None when the row never ran) and ``text`` the model's output
    text. ``parsed`` holds the pydantic object for requests built with ``parse(...)``
    whose outcome is ``succeeded``; if the text does not fit the model, ``parsed`` is
    None and ``error.code`` is ``parse_error``. ``attempts`` counts submissions (2+
    means it was retried).
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
    text: str | None = None
    raw: bytes = field(default=b"", repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED and self.error is None

    @property
    def retried(self) -> bool:
        return self.attempts > 1

    @classmethod
    def from_row(
        cls, index: int, row: ResultRow, attempts: int, model: type | None = None
    ) -> RunResult:
        """A result straight from a backend's row (the realtime executor's path)."""
        parsed, error = None, row.error
        if model is not None and row.outcome is Outcome.SUCCEEDED:
            parsed, error = parse_output(model, row.text)
        return cls(
            index, row.custom_id, row.outcome, row.status_code, row.body, error, attempts,
            row.usage or Usage(), parsed, row.text, row.raw,
        )  # fmt: skip


class _LineReader:
    """Reads lines from result blobs by their records' ranges (see
    :mod:`batchport.runner.records`), keeping a few blobs open with their dictionaries."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._open: dict[str, BlobRecords] = {}

    def read(self, key: str, offset: int, length: int) -> bytes:
        f = self._open.get(key)
        if f is None:
            if len(self._open) >= 8:
                self._open.pop(next(iter(self._open))).close()
            f = self._open[key] = BlobRecords(self._blobs.open(key), key)
        return f.read(offset, length)

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()


_LINE_KEY = b',"line":'


def _dig(value: Any, path: list[str]) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _to_result(rec: RowRecord, reader: _LineReader, models: Mapping[str, type] | None) -> RunResult:
    body: Mapping[str, Any] | None = None
    error: RowError | None = None
    text: str | None = None
    raw = b""
    if rec.result_key is not None and rec.result_offset is not None and rec.result_length:
        try:
            data = reader.read(rec.result_key, rec.result_offset, rec.result_length)
            stored = orjson.loads(data)
        except DamagedBlobError as exc:
            raise DamagedBlobError(f"row {rec.idx} ({rec.custom_id!r}): {exc}") from None
        except orjson.JSONDecodeError as exc:
            raise DamagedBlobError(
                f"row {rec.idx} ({rec.custom_id!r}): result blob {rec.result_key!r} is "
                f"damaged: the line at byte {rec.result_offset} is not JSON ({exc})"
            ) from None
        line = stored.get("line")
        found = _dig(line, stored.get("body_path", ())) if line is not None else stored.get("body")
        body = found if isinstance(found, Mapping) else None
        # the provider's line sits verbatim after our own keys (quotes inside JSON
        # strings are escaped, so the first match is ours)
        cut = data.find(_LINE_KEY)
        raw = data[cut + len(_LINE_KEY) :].rstrip(b"\r\n")[:-1] if cut >= 0 else b""
        text = stored.get("text")
        if stored.get("error"):
            error = RowError(*stored["error"])
    outcome = Outcome(rec.outcome) if rec.outcome else Outcome.PENDING
    if rec.error_code and outcome is not Outcome.SUCCEEDED:
        message = rec.error_message or (error.message if error else rec.error_code)
        error = RowError(rec.error_code, message, error.type if error else None,
                         error.param if error else None)  # fmt: skip
    parsed = None
    model = models.get(rec.custom_id) if models else None
    if model is not None and outcome is Outcome.SUCCEEDED:
        parsed, error = parse_output(model, text)
    usage = Usage(
        rec.input_tokens,
        rec.output_tokens,
        rec.cached_tokens,
        rec.reasoning_tokens,
        rec.cache_write_tokens,
    )
    return RunResult(
        rec.idx, rec.custom_id, outcome, rec.status_code, body, error, rec.attempt, usage,
        parsed, text, raw,
    )  # fmt: skip


@functools.lru_cache(maxsize=128)
def _adapter(model: type) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(model)


def parse_output(model: type, text: str | None) -> tuple[Any, RowError | None]:
    """Validate a row's output text against a pydantic model: (object, None) or
    (None, a ``parse_error``)."""
    if text is None:
        return None, RowError("parse_error", "the response holds no output text to parse")
    try:
        return _adapter(model).validate_json(text), None
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        return None, RowError("parse_error", f"output does not fit {model.__name__}: {first}")


def iter_results(
    store: RunStore,
    run_id: str,
    *,
    order: str = "input",
    models: Mapping[str, type] | None = None,
) -> Iterator[RunResult]:
    """Every request's result, in input order or in the order rows settled.

    A result blob that cannot be read back (cut short, or changed since it was
    written) stops the iteration with :class:`~batchport.errors.DamagedBlobError`
    (a :class:`~batchport.errors.RunError`) naming the row and the blob: no result is
    skipped or made up."""
    if order not in ("input", "landed"):
        raise ValueError("order must be 'input' or 'landed'")
    reader = _LineReader(store.blobs)
    try:
        for rec in store.iter_rows(run_id, order=order):
            yield _to_result(rec, reader, models)
    finally:
        reader.close()


_CSV_FIELDS = (
    "backend",
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


def _flat(r: RunResult, backend: str | None) -> dict[str, Any]:
    return {
        "backend": backend,
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


def write_results(
    results: Iterator[RunResult],
    path: str | Path,
    fmt: str = "jsonl",
    *,
    backend: str | None = None,
) -> int:
    """Write results to ``path`` (atomically; ``"-"`` is standard output) as JSONL (with
    bodies) or CSV; return the number of rows."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError("format must be 'jsonl' or 'csv'")
    if str(path) == "-":
        out = sys.stdout.buffer
        try:
            n = _write(results, out, fmt, backend)
            out.flush()
        finally:
            _close(results)
        return n
    try:
        target = Path(path)
        if target.exists() and not target.is_file():  # a device or a pipe: written in place
            with target.open("wb") as out:
                return _write(results, out, fmt, backend)
        with atomic_writer(path) as out:
            return _write(results, out, fmt, backend)
    finally:
        _close(results)  # now, while its store is open: not whenever it is collected


def _close(results: Iterator[RunResult]) -> None:
    close = getattr(results, "close", None)
    if close is not None:
        close()


def _write(results: Iterator[RunResult], out: IO[bytes], fmt: str, backend: str | None) -> int:
    n = 0
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=_CSV_FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerow(_flat(r, backend))
            n += 1
        text.flush()
        text.detach()
        return n
    for r in results:
        row = _flat(r, backend)
        row["body"] = r.body
        if r.parsed is not None and isinstance(r.parsed, pydantic.BaseModel):
            row["parsed"] = r.parsed.model_dump(mode="json")
        out.write(orjson.dumps(row) + b"\n")
        n += 1
    return n
