"""Validation of a batch input file, streamed line by line.

This is the emulator's own reading of the rules in the wire reference
(section 2.6 and section 3.1); it produces ``errors.data`` entries with the
reference's codes, messages and 1-based line numbers, one per problem, in input
order. A passing file yields an :class:`InputPlan`: the byte offset and length
of every request line (two compact arrays, no bodies kept), the batch's model
and a rough count of prompt tokens.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from batchport_emulator.batches import BatchErrorEntry

REQUIRED_LINE_KEYS = ("custom_id", "method", "url", "body")

# Fields each endpoint's body needs, with the message the real service uses.
_BODY_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "/v1/chat/completions": (
        ("model", "Model parameter is required."),
        ("messages", "Messages parameter is required."),
    ),
    "/v1/responses": (("model", "Model parameter is required."),),
    "/v1/embeddings": (
        ("model", "Model parameter is required."),
        ("input", "Input parameter is required."),
    ),
    "/v1/completions": (
        ("model", "Model parameter is required."),
        ("prompt", "Prompt parameter is required."),
    ),
    "/v1/moderations": (("input", "Input parameter is required."),),
}
_DUPLICATE = (
    "The custom_id '{custom_id}' for this request is a duplicate of another request. "
    "The custom_id parameter must be unique for each request in a batch."
)
_STREAM_NAMES = {"/v1/chat/completions": "Chat Completions", "/v1/responses": "Responses"}


@dataclass(frozen=True, slots=True)
class ValidationRules:
    max_requests: int = 50_000
    max_embedding_inputs: int = 50_000
    max_errors: int = 1_000
    models: frozenset[str] | None = None  # batch-eligible models; None accepts any


@dataclass(slots=True)
class InputPlan:
    offsets: array[int] = field(default_factory=lambda: array("q"))
    lengths: array[int] = field(default_factory=lambda: array("q"))
    model: str | None = None
    estimated_tokens: int = 0
    errors: list[BatchErrorEntry] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.offsets)


class LineChecker:
    """What the OpenAI and the Azure input checkers share: collecting at most
    ``max_errors`` entries into ``plan``, parsing a line, and the streaming scan.

    Subclasses implement :meth:`check_line`, which reports through :meth:`error`.
    """

    def __init__(self, max_errors: int) -> None:
        self.max_errors = max_errors
        self.plan = InputPlan()
        self.seen: set[str] = set()  # custom_ids so far

    def error(self, code: str, message: str, param: str | None, line: int | None) -> None:
        if len(self.plan.errors) < self.max_errors:
            self.plan.errors.append(BatchErrorEntry(code, message, param, line))

    def parse_row(self, raw: bytes, line: int) -> dict[str, Any] | None:
        """The line as a JSON object, or ``None`` after reporting ``invalid_json_line``."""
        try:
            row = orjson.loads(raw)
        except orjson.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            self.error("invalid_json_line", "This line is not parseable as valid JSON.", None, line)
            return None
        return row

    def check_custom_id(self, custom_id: object, line: int, duplicate: str) -> None:
        """Report an empty or non-string ``custom_id``, or a repeated one with the
        ``duplicate`` message (``{custom_id}`` is filled in)."""
        if not isinstance(custom_id, str) or not custom_id:
            self.error(
                "invalid_request", "custom_id must be a non-empty string.", "custom_id", line
            )
        elif custom_id in self.seen:
            message = duplicate.format(custom_id=custom_id)
            self.error("duplicate_custom_id", message, "custom_id", line)
        else:
            self.seen.add(custom_id)

    def check_line(self, raw: bytes, line: int) -> None:
        raise NotImplementedError

    def scan(self, fp: IO[bytes]) -> None:
        """Check every non-blank line of ``fp`` from its current position, recording the
        offset and length of each that passes; stop once ``max_errors`` are collected.

        Line numbers are physical and 1-based; offsets count from the current position
        (callers start at 0).
        """
        plan = self.plan
        offset = 0
        for number, raw in enumerate(fp, start=1):
            length = len(raw)
            stripped = raw.strip()
            if stripped:
                before = len(plan.errors)
                self.check_line(stripped, number)
                if len(plan.errors) == before:
                    plan.offsets.append(offset)
                    plan.lengths.append(length)
                    plan.estimated_tokens += length // 4
                elif len(plan.errors) >= self.max_errors:
                    break
            offset += length


class _Checker(LineChecker):
    def __init__(self, endpoint: str, rules: ValidationRules) -> None:
        super().__init__(rules.max_errors)
        self.endpoint = endpoint
        self.rules = rules
        self.embedding_inputs = 0

    def check_line(self, raw: bytes, line: int) -> None:
        row = self.parse_row(raw, line)
        if row is None:
            return
        missing = [k for k in REQUIRED_LINE_KEYS if k not in row]
        for key in missing:
            self.error(
                "missing_required_parameter", f"Missing required parameter: '{key}'.", key, line
            )
        if missing:
            return
        self._check_envelope(row, line)

    def _check_envelope(self, row: dict[str, Any], line: int) -> None:
        custom_id, method, url, body = (row[k] for k in REQUIRED_LINE_KEYS)
        self.check_custom_id(custom_id, line, _DUPLICATE)
        if method != "POST":
            self.error(
                "invalid_request",
                f"Only POST requests are supported in the Batch API, got '{str(method)[:32]}'.",
                "method",
                line,
            )
        if url != self.endpoint:
            self.error(
                "invalid_url",
                "The URL provided for this request does not match the batch endpoint.",
                "url",
                line,
            )
        if not isinstance(body, Mapping):
            self.error("invalid_request", "The request body must be a JSON object.", "body", line)
            return
        self._check_body(body, line)

    def _check_body(self, body: Mapping[str, Any], line: int) -> None:
        if body.get("stream") is True:
            name = _STREAM_NAMES.get(self.endpoint, "This endpoint")
            self.error(
                "streaming_unsupported",
                f"{name}: Streaming is not supported in the Batch API.",
                "body.stream",
                line,
            )
        for key, message in _BODY_FIELDS.get(self.endpoint, ()):
            if body.get(key) is None:
                self.error("invalid_request", message, f"body.{key}", line)
        model = body.get("model")
        if isinstance(model, str):
            self._check_model(model, line)
        if self.endpoint == "/v1/embeddings":
            inp = body.get("input")
            self.embedding_inputs += len(inp) if isinstance(inp, list) else 1

    def _check_model(self, model: str, line: int) -> None:
        models = self.rules.models
        if models is not None and model not in models:
            self.error(
                "model_not_found",
                f"The provided model '{model}' is not supported by the Batch API.",
                "body.model",
                line,
            )
        elif self.plan.model is None:
            self.plan.model = model
        elif model != self.plan.model:
            self.error(
                "mismatched_model",
                f"The model '{model}' for this request does not match the rest of the batch. "
                "Each batch must contain requests for a single model.",
                "body.model",
                line,
            )

    def finish(self) -> InputPlan:
        plan, rules = self.plan, self.rules
        if plan.total == 0 and not plan.errors:
            self.error("empty_file", "The batch input file is empty.", None, None)
        elif plan.total > rules.max_requests:
            self.error(
                "invalid_request",
                f"The batch input file contains {plan.total:,} requests; a batch can "
                f"contain at most {rules.max_requests:,} requests.",
                None,
                None,
            )
        if self.embedding_inputs > rules.max_embedding_inputs:
            self.error(
                "invalid_request",
                f"The batch contains {self.embedding_inputs:,} embedding inputs; a batch "
                f"can contain at most {rules.max_embedding_inputs:,}.",
                None,
                None,
            )
        return plan


def validate_input(fp: IO[bytes], *, endpoint: str, rules: ValidationRules) -> InputPlan:
    """Read ``fp`` from the start, line by line, and check every request.

    Blank lines are skipped (they neither count nor fail). Line numbers are
    physical, 1-based. ``plan.errors`` is empty when the batch may run.
    """
    checker = _Checker(endpoint, rules)
    checker.scan(fp)
    return checker.finish()


def read_row(fp: IO[bytes], plan: InputPlan, index: int) -> dict[str, Any]:
    """Parse request ``index`` (0-based, in input order) back from the input file."""
    fp.seek(plan.offsets[index])
    row: dict[str, Any] = orjson.loads(fp.read(plan.lengths[index]))
    return row
