"""Dialect rules: what a dialect decides in *behaviour*, with OpenAI's as the defaults.

The state model and the processor never ask which dialect they serve; they call the
rules object of the request's (or the batch's) dialect at each point where providers
differ:

- create parameters: :meth:`DialectRules.parse_create_params`;
- uploads: :meth:`~DialectRules.check_upload` for batch files, the initial file
  ``status``, whether batch files expire by default, :meth:`~DialectRules.refresh`
  on reads (a ``pending`` upload becoming ``processed``);
- batch create: :meth:`~DialectRules.check_create` (synchronous refusals and tokens
  admitted at once), :meth:`~DialectRules.deadline` (when the batch expires);
- validation and admission: :meth:`~DialectRules.validate` (the input checker) and
  :meth:`~DialectRules.admit` (quota after validation);
- results: whether a 0-byte error file is published when no row failed, and
  :meth:`~DialectRules.result_body` (what the provider changes in a row's answer);
- ids: :meth:`~DialectRules.file_id` and :meth:`~DialectRules.batch_id`;
- input lines: :meth:`~DialectRules.input_row` reads a dialect's own line form;
- inline batches (Anthropic, Gemini): :meth:`~DialectRules.inline_input` turns a create body
  into the input file, whose purpose is :attr:`~DialectRules.input_purpose`;
  :attr:`~DialectRules.every_row_answered` gives rows a cancel or expiry stopped a line
  whatever ``batches.write_cancelled_rows`` says; :meth:`~DialectRules.adjust_faults`
  drops fault plans the provider cannot show.

:class:`DialectRules` itself is OpenAI's behaviour, and neutral: a new dialect
subclasses it and overrides only what differs. Rules get the collaborators they need
through a :class:`DialectContext`, never the whole state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

import orjson

from batchport_emulator.batch_params import CreateParams, parse_create_params
from batchport_emulator.batches import Batch, BatchErrorEntry, FaultPlan
from batchport_emulator.config import EmulatorConfig
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord, FileStore, UploadSink
from batchport_emulator.ids import IdFactory
from batchport_emulator.validation import InputPlan, ValidationRules, validate_input

BAD_JSONL = "Invalid file format for Batch API. Must be .jsonl"


@dataclass(frozen=True, slots=True)
class DialectContext:
    """What the emulator lends its dialects; each takes only the parts it needs.

    ``config`` returns the live config (it is replaced on every change); ``now`` is
    the virtual clock in Unix seconds; ``batch_finished`` tells whether a batch id is
    unknown or terminal.
    """

    config: Callable[[], EmulatorConfig]
    now: Callable[[], float]
    files: FileStore
    batch_finished: Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Admission:
    """Tokens a batch holds against a model's (or deployment's) enqueued-token quota."""

    model: str
    tokens: int


class DialectRules:
    """OpenAI's behaviour, which is also every hook's neutral default."""

    #: batch files without ``expires_after`` expire after 30 days
    default_file_expiry = True
    #: publish a 0-byte error file when no row failed (instead of none)
    empty_error_file = False
    #: purpose of a batch's input file, and of its result files
    input_purpose = "batch"
    result_purpose = "batch_output"
    #: rows a cancel or expiry stopped always get a line (each request has one result)
    every_row_answered = False

    def __init__(self, config: Callable[[], EmulatorConfig]) -> None:
        self._config = config

    @property
    def initial_file_status(self) -> str:
        """``status`` of a new upload."""
        return "processed"

    def file_id(self, ids: IdFactory, purpose: str) -> str:
        """A new file's id (``purpose`` ``batch`` for uploads, ``batch_output`` for results)."""
        return ids.file_id()

    def batch_id(self, ids: IdFactory) -> str:
        return ids.batch_id()

    def result_body(self, batch: Batch, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """A successful row's response body as the provider's result file shows it."""
        return body

    def parse_create_params(self, body: Any) -> CreateParams:
        """A create-batch body as parameters; raises :class:`ApiError` 400 on a fault."""
        return parse_create_params(body)

    def check_upload(self, sink: UploadSink, filename: str, expires_after_s: int | None) -> None:
        """Refuse (:class:`ApiError` 400) a received ``purpose=batch`` upload.

        OpenAI checks size, the ``.jsonl`` name and that the first line is a JSON object.
        """
        if sink.size > self._config().limits.batch_file_max_bytes:
            raise ApiError(400, "File is too large.")
        if not filename.lower().endswith(".jsonl"):
            raise ApiError(400, BAD_JSONL)
        first = sink.first_line()
        if sink.size == 0 or (first is not None and not _looks_like_json_object(first)):
            raise ApiError(400, BAD_JSONL)

    def refresh(self, record: FileRecord, *, read: bool = False) -> FileRecord:
        """The record as a read sees it; ``read`` marks a client's retrieve."""
        return record

    def check_create(self, params: CreateParams, record: FileRecord | None) -> Admission | None:
        """Synchronous refusals of a create beyond the shared ones (:class:`ApiError`),
        and the tokens the batch holds from now on, if the dialect counts them at once."""
        return None

    def admitted(self, batch_id: str, admission: Admission | None) -> None:
        """Record what :meth:`check_create` admitted, now that the batch has an id."""

    def deadline(self, now: float) -> float:
        """When a batch created at ``now`` expires (virtual Unix seconds)."""
        return now + self._config().batches.completion_window_s

    def validate(self, fh: IO[bytes], batch: Batch) -> InputPlan:
        """Check a batch's input file from the start (runs on a worker thread)."""
        config = self._config()
        limits, models = config.limits, config.batches.models
        rules = ValidationRules(
            max_requests=limits.max_requests_per_batch,
            max_embedding_inputs=limits.max_embedding_inputs,
            max_errors=limits.max_validation_errors,
            models=None if models is None else frozenset(models),
        )
        return validate_input(fh, endpoint=batch.endpoint, rules=rules)

    def admit(self, batch: Batch, plan: InputPlan) -> BatchErrorEntry | None:
        """Take a validated batch's tokens, or say why it fails instead."""
        return None

    def adjust_faults(self, plan: FaultPlan) -> FaultPlan:
        """The fault plan drawn for a new batch, minus what the provider cannot show."""
        return plan

    def inline_input(self, raw: bytes, out: IO[bytes]) -> int:
        """Check a create body that carries its requests inline and write them to
        ``out`` as input lines ``{"custom_id", "body"}``; return how many.

        Raises :class:`ApiError` 400 for a bad body. File-based dialects never call it.
        """
        raise ApiError(400, "This API takes its requests from an uploaded file.")

    def input_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """An input line as the processor reads it: ``custom_id``, ``body`` and optionally
        ``url`` (Gemini's ``{key, request}`` lines are renamed here)."""
        return row

    def clear(self) -> None:
        """Forget what the rules remember about files and batches (on reset)."""


def _looks_like_json_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False
