"""Live work of a validated batch: its row plan, shuffled order and open work files.

The processor (:mod:`batchport_emulator.processing`) keeps one :class:`BatchRun` per
batch in progress. Only the work files survive a restart; :func:`recover_work_file`
cuts one back to the whole lines of rows that ran, so the processor can count them
and run the rest again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from batchport_emulator.validation import InputPlan

#: google.rpc code (CANCELLED) of Gemini lines written for rows that never ran
_GEMINI_UNRUN = frozenset({1})


@dataclass(slots=True)
class WorkFile:
    """An output or error file being appended to; opened on the first write."""

    path: Path
    fh: IO[bytes] | None = None
    size: int = 0

    def write(self, data: bytes) -> None:
        if self.fh is None:
            self.fh = open(self.path, "ab", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        self.fh.write(data)
        self.size += len(data)

    def sync(self, *, durable: bool) -> None:
        """Push buffered lines to the file (and to the disk when ``durable``)."""
        if self.fh is not None:
            self.fh.flush()
            if durable:
                os.fsync(self.fh.fileno())

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


@dataclass(slots=True)
class Recovered:
    """What survived in a work file: the rows that ran, and their token usage."""

    custom_ids: set[str] = field(default_factory=set)
    lines: int = 0
    succeeded: int = 0  # lines of rows that ran and succeeded
    size: int = 0
    tokens: tuple[int, int, int, int] = (0, 0, 0, 0)  # input, cached, output, reasoning


def recover_work_file(path: Path) -> Recovered:
    """Keep only the complete result lines of rows that ran in ``path`` (rewriting it).

    A line cut short by a kill, or a ``batch_cancelled``/``batch_expired`` line written
    while finishing, is dropped: those rows are run (or marked) again.
    """
    found = Recovered()
    if not path.exists():
        return found
    tmp = path.with_name(path.name + ".recover")
    totals = [0, 0, 0, 0]
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        for line in src:
            row = _ran_line(line)
            if row is None:
                continue
            dst.write(line)
            found.custom_ids.add(str(row.get("custom_id", row.get("key"))))
            found.lines += 1
            found.succeeded += _succeeded(row)
            found.size += len(line)
            for i, n in enumerate(usage_tokens(row)):
                totals[i] += n
    os.replace(tmp, path)
    found.tokens = (totals[0], totals[1], totals[2], totals[3])
    return found


def _ran_line(line: bytes) -> dict[str, Any] | None:
    """The line as a row that ran: an OpenAI-form line with a ``response``, or an
    Anthropic-form line whose ``result`` is ``succeeded`` or ``errored``."""
    if not line.endswith(b"\n"):
        return None
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(row, dict):
        return None
    result = row.get("result")
    if isinstance(result, dict) and result.get("type") in ("succeeded", "errored"):
        return row
    if "key" in row and isinstance(row.get("error"), dict):  # Gemini's failed row
        return None if row["error"].get("code") in _GEMINI_UNRUN else row
    return row if isinstance(row.get("response"), dict) else None


def _succeeded(row: dict[str, Any]) -> bool:
    response, result = row.get("response"), row.get("result")
    if "key" in row:  # Gemini: {"key", "response"} or {"key", "error"}
        return isinstance(response, dict)
    if isinstance(result, dict):
        return result.get("type") == "succeeded"
    status = response.get("status_code") if isinstance(response, dict) else None
    return isinstance(status, int) and 200 <= status < 300


def usage_tokens(row: dict[str, Any]) -> tuple[int, int, int, int]:
    """(input, cached, output, reasoning) tokens of a result line's body, 0 when absent."""
    result = row.get("result")
    if "key" in row:
        return _gemini_usage(row.get("response"))
    body = result.get("message") if isinstance(result, dict) else row["response"].get("body")
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return (0, 0, 0, 0)
    inp = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    out = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    inp_details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    out_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details")
    cached = _int(inp_details.get("cached_tokens")) if isinstance(inp_details, dict) else 0
    cached = cached or _int(usage.get("cache_read_input_tokens"))
    reasoning = _int(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else 0
    return (inp, cached, out, reasoning)


def _gemini_usage(response: object) -> tuple[int, int, int, int]:
    usage = response.get("usageMetadata") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        return (0, 0, 0, 0)
    thoughts = _int(usage.get("thoughtsTokenCount"))
    out = _int(usage.get("candidatesTokenCount")) + thoughts
    cached = _int(usage.get("cachedContentTokenCount"))
    return (_int(usage.get("promptTokenCount")), cached, out, thoughts)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(slots=True)
class BatchRun:
    """Live work of one validated batch: its plan, row order and work files."""

    plan: InputPlan
    order: list[int]
    input: IO[bytes]
    output: WorkFile
    error: WorkFile

    def close(self) -> None:
        self.input.close()
        self.output.close()
        self.error.close()
