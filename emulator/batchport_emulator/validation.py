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


class _Checker:
    def __init__(self, endpoint: str, rules: ValidationRules) -> None:
        self.endpoint = endpoint
        self.rules = rules
        self.plan = InputPlan()
        self.seen: set[str] = set()
        self.embedding_inputs = 0

    def error(self, code: str, message: str, param: str | None, line: int | None) -> None:
        if len(self.plan.errors) < self.rules.max_errors:
            self.plan.errors.append(BatchErrorEntry(code, message, param, line))

    def check_line(self, raw: bytes, line: int) -> None:
        try:
            row = orjson.loads(raw)
        except orjson.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            self.error("invalid_json_line", "This line is not parseable as valid JSON.", None, line)
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
        if not isinstance(custom_id, str) or not custom_id:
            self.error(
                "invalid_request", "custom_id must be a non-empty string.", "custom_id", line
            )
        elif custom_id in self.seen:
            self.error(
                "duplicate_custom_id",
                f"The custom_id '{custom_id}' for this request is a duplicate of another "
                "request. The custom_id parameter must be unique for each request in a batch.",
                "custom_id",
                line,
            )
        else:
            self.seen.add(custom_id)
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
    plan = checker.plan
    offset = 0
    for number, raw in enumerate(fp, start=1):
        length = len(raw)
        stripped = raw.strip()
        if stripped:
            before = len(plan.errors)
            checker.check_line(stripped, number)
            if len(plan.errors) == before:
                plan.offsets.append(offset)
                plan.lengths.append(length)
                plan.estimated_tokens += length // 4
            elif len(plan.errors) >= rules.max_errors:
                break
        offset += length
    return checker.finish()


def read_row(fp: IO[bytes], plan: InputPlan, index: int) -> dict[str, Any]:
    """Parse request ``index`` (0-based, in input order) back from the input file."""
    fp.seek(plan.offsets[index])
    row: dict[str, Any] = orjson.loads(fp.read(plan.lengths[index]))
    return row
