"""What the Azure dialect does differently in behaviour: :class:`AzureRules`.

One instance per emulator, built by the Azure dialect with only the collaborators it
needs (the live config, the virtual clock, a few file operations, and whether a batch
has finished); it overrides the neutral
:class:`~batchport_emulator.dialects.rules.DialectRules` where Azure differs:

- create parameters: Azure's endpoints and 14-30 day output expiry (:mod:`.checks`);
- uploads: Azure's file-count limits (500 without expiry, 10,000 with), the 14-30 day
  expiry range, no default expiry, and ``pending -> processed`` after the configured
  time and reads;
- batch create: the real 400 for a file still ``pending``; in fail-fast mode the
  enqueued-token check with a 400 ``token_limit_exceeded``; no expiry deadline unless
  ``azure.batch_expiry`` is on;
- validation: Azure's own checker (:mod:`.checks`) and, in the default mode, the
  enqueued-token check failing the batch with ``token_limit_exceeded``;
- results: a 0-byte error file when no row failed; chat completions name the
  deployment's model version (``gpt-4o-2024-08-06``), as Azure's result files do;
- ids: ``batch_<uuid>``, uploads ``file-<32 hex>``, outputs ``file-<uuid>``;
- uploads answer ``processed`` at once unless a processing delay is configured.

Enqueued tokens are counted per deployment from the moment a batch is admitted until
it reaches a terminal state; "in flight" is derived from the batches' statuses, so
nothing has to remember to release them. The ledger lives in memory; each batch also
stores what it holds, and a restarted ``--data-dir`` emulator hands that back through
:meth:`AzureRules.admitted`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from batchport_emulator.azure.checks import (
    check_expiry_range,
    first_model,
    parse_create_params,
    validate_input,
)
from batchport_emulator.azure.config import AzureConfig
from batchport_emulator.batch_params import CreateParams
from batchport_emulator.batches import Batch, BatchErrorEntry
from batchport_emulator.config import EmulatorConfig
from batchport_emulator.dialects.rules import Admission, DialectRules
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord, UploadSink
from batchport_emulator.ids import IdFactory
from batchport_emulator.validation import InputPlan

NEVER_S = 100 * 365 * 86_400.0
TOKEN_LIMIT_CODE = "token_limit_exceeded"


class AzureFiles(Protocol):
    """The file operations the Azure rules use (a :class:`~.files.FileStore` has them)."""

    def content_path(self, file_id: str) -> Path: ...

    def set_status(self, file_id: str, status: str) -> None: ...

    def live(self, *, purpose: str, dialect: str) -> list[FileRecord]: ...


def human_count(n: int) -> str:
    """30000 -> '30K', 5000000000 -> '5B' (as Azure words its limits); else digits."""
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)


def token_limit_message(deployment: str, limit: int) -> str:
    return (
        f"The number of enqueued tokens has surpassed the configured limit of "
        f"{human_count(limit)} for the deployment '{deployment}'. Please either increase "
        "the limit or try again once the current jobs have finished."
    )


class AzureRules(DialectRules):
    """Azure behaviour; reads the live config each time.

    ``owner`` is the dialect name on the files whose count Azure limits;
    ``batch_finished`` says whether a batch id is unknown or terminal.
    """

    default_file_expiry = False
    empty_error_file = True

    def __init__(
        self,
        *,
        config: Callable[[], EmulatorConfig],
        now: Callable[[], float],
        files: AzureFiles,
        batch_finished: Callable[[str], bool],
        owner: str,
    ) -> None:
        super().__init__(config)
        self._now = now
        self._files = files
        self._batch_finished = batch_finished
        self._owner = owner
        self._admitted: dict[str, Admission] = {}  # batch id -> tokens held
        self._polls: dict[str, int] = {}  # file id -> reads while pending

    @property
    def config(self) -> AzureConfig:
        return self._config().azure

    @property
    def initial_file_status(self) -> str:
        """``pending`` only while a processing delay is configured (time or reads);
        else ``processed`` at once, as Microsoft's samples show."""
        c = self.config
        return "pending" if c.file_processing_s > 0 or c.file_processing_polls > 0 else "processed"

    def file_id(self, ids: IdFactory, purpose: str) -> str:
        return ids.hex_file_id() if purpose != "batch_output" else ids.uuid_file_id()

    def batch_id(self, ids: IdFactory) -> str:
        return ids.uuid_batch_id()

    def result_body(self, batch: Batch, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Chat completions name the model version behind the deployment (Responses API
        bodies keep the deployment name, as the reference shows)."""
        name = body.get("model")
        if body.get("object") != "chat.completion" or not isinstance(name, str):
            return body
        deployment = self.config.deployment(name)
        if deployment is None:
            return body
        return {**body, "model": deployment.model_version()}

    def clear(self) -> None:
        self._admitted.clear()
        self._polls.clear()

    def parse_create_params(self, body: Any) -> CreateParams:
        return parse_create_params(body)

    # -- files ------------------------------------------------------------------------

    def check_upload(self, sink: UploadSink, filename: str, expires_after_s: int | None) -> None:
        """Size, expiry range and file-count limits for an Azure batch upload.

        Empty and BOM files pass here: Azure fails them when a batch runs them.
        """
        if sink.size > self._config().limits.batch_file_max_bytes:
            raise ApiError(400, "File is too large.", code="invalidPayload")
        check_expiry_range(expires_after_s, "expires_after.seconds")
        c = self.config
        live = self._files.live(purpose="batch", dialect=self._owner)
        if expires_after_s is None:
            if sum(r.expires_at is None for r in live) >= c.max_files_without_expiry:
                raise ApiError(
                    400,
                    "The quota for files without expiry is reached. The maximum is "
                    f"{c.max_files_without_expiry}.",
                    code="quotaExceeded",
                )
        elif sum(r.expires_at is not None for r in live) >= c.max_files_with_expiry:
            raise ApiError(
                400,
                "The quota for files with expiry is reached. The maximum is "
                f"{c.max_files_with_expiry}.",
                code="quotaExceeded",
            )

    def refresh(self, record: FileRecord, *, read: bool = False) -> FileRecord:
        """Move a ``pending`` upload to ``processed`` once due; ``read`` counts a retrieve."""
        if record.status != "pending":
            return record
        polls = self._polls.get(record.id, 0) + (1 if read else 0)
        self._polls[record.id] = polls
        c = self.config
        due = self._now() >= record.created_at + c.file_processing_s
        if due and polls >= c.file_processing_polls:
            self._files.set_status(record.id, "processed")
            self._polls.pop(record.id, None)
        return record

    # -- batches ----------------------------------------------------------------------

    def deadline(self, now: float) -> float:
        """When the emulator expires a new batch: never, unless ``batch_expiry`` is on."""
        window_s = self._config().batches.completion_window_s
        return now + (window_s if self.config.batch_expiry else NEVER_S)

    def check_create(self, params: CreateParams, record: FileRecord | None) -> Admission | None:
        """The synchronous checks of an Azure batch create.

        Raises :class:`ApiError` 400 for a file still ``pending`` and, in fail-fast
        mode, for a batch over its deployment's quota. Returns the tokens admitted in
        fail-fast mode, for :meth:`admitted`.
        """
        if record is None:
            return None
        self.refresh(record)
        if record.status == "pending":
            raise ApiError(
                400,
                f"The input file '{record.id}' is in 'pending' state. Only files with status "
                "'Processed' are accepted for batch inferencing. Please check the file status "
                "and try again",
                param="input_file_id",
            )
        if self.config.token_limit_mode != "fail_fast":
            return None
        with open(self._files.content_path(record.id), "rb") as fh:
            name = first_model(fh)
        tokens = max(1, record.bytes // 4)
        if name is None or self.config.deployment(name) is None:
            return None  # validation fails it later with the precise code
        refusal = self._over_limit(name, tokens)
        if refusal is not None:
            raise ApiError(400, refusal.message, code=TOKEN_LIMIT_CODE)
        return Admission(name, tokens)

    def admitted(self, batch_id: str, admission: Admission | None) -> None:
        if admission is not None:
            self._admitted[batch_id] = admission

    def validate(self, fh: IO[bytes], batch: Batch) -> InputPlan:
        """Azure's validation of a batch's input file (run on a worker thread)."""
        return validate_input(
            fh,
            completion_window=batch.completion_window,
            config=self.config,
            max_errors=self._config().limits.max_validation_errors,
        )

    def admit(self, batch: Batch, plan: InputPlan) -> BatchErrorEntry | None:
        """Count a validated batch's tokens, or say why its deployment cannot take them."""
        if batch.id in self._admitted or plan.model is None:
            return None
        refusal = self._over_limit(plan.model, plan.estimated_tokens)
        if refusal is None:
            self._admitted[batch.id] = Admission(plan.model, plan.estimated_tokens)
        return refusal

    def in_flight(self, deployment: str) -> int:
        """Tokens of admitted batches on ``deployment`` that have not finished."""
        for batch_id in [b for b in self._admitted if self._batch_finished(b)]:
            del self._admitted[batch_id]
        return sum(a.tokens for a in self._admitted.values() if a.model == deployment)

    def _over_limit(self, name: str, tokens: int) -> BatchErrorEntry | None:
        deployment = self.config.deployment(name)
        if deployment is None:
            return None
        limit = deployment.enqueued_token_limit
        allowed = (
            limit * (1 + self.config.dynamic_quota_headroom) if deployment.dynamic_quota else limit
        )
        if self.in_flight(name) + tokens <= allowed:
            return None
        return BatchErrorEntry(TOKEN_LIMIT_CODE, token_limit_message(name, limit), None, None)
