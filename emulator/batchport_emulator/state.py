"""The emulator's whole state behind one facade, with no HTTP in sight.

:class:`EmulatorState` owns the clock, ids, file and batch stores, the dialects,
the fault and progression policies, the responder and the background processor.
HTTP handlers, the control endpoints and the ``Emulator`` conveniences all call
the methods here, so each behaviour has exactly one implementation. Methods that
behave per provider take the request's :class:`~batchport_emulator.dialects.Dialect`
and consult its rules; none compares dialect names.

Methods serving a client take its ``principal`` (whom its credential stands for, set
only when API keys are configured): files and batches are stored with it, and another
principal's are answered as unknown (404) and left out of listings. ``None`` sees
everything, as does a record made before keys were configured. Result files carry no
principal of their own; their batch's applies.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchport_emulator.batch_params import CreateParams
from batchport_emulator.batches import Batch, BatchStore
from batchport_emulator.clock import VirtualClock
from batchport_emulator.config import EmulatorConfig
from batchport_emulator.dialects import Dialect
from batchport_emulator.dialects.registry import Dialects, build_dialects
from batchport_emulator.dialects.rules import DialectContext
from batchport_emulator.errors import (
    ApiError,
    batch_not_found,
    cancel_conflict,
    file_not_found,
)
from batchport_emulator.faults import FaultPolicy
from batchport_emulator.files import PURPOSES, SHOWN_PURPOSES, FileRecord, FileStore, UploadSink
from batchport_emulator.ids import IdFactory
from batchport_emulator.lifecycle import Status, can_cancel
from batchport_emulator.pagination import Page
from batchport_emulator.processing import Processor
from batchport_emulator.progression import ProgressionModel
from batchport_emulator.ratelimit import ErrorModel, LatencyModel, RateLimiter
from batchport_emulator.responders import Responder, make_responder
from batchport_emulator.storage import read_json, write_json_atomic
from batchport_emulator.webhooks import WebhookDispatcher


class EmulatorState:
    """Everything the emulator knows. Use from one event loop; not thread-safe.

    ``responder`` overrides the configured one (and is then not closed here).
    Without ``config.data_dir`` file contents go to a temporary directory that
    :meth:`aclose` removes.
    """

    def __init__(self, config: EmulatorConfig, *, responder: Responder | None = None) -> None:
        self.config = config
        self.clock = VirtualClock(scale=config.clock.scale)
        self.ids = IdFactory(config.id_seed)
        self._tempdir: str | None = None
        self._clock_path: Path | None = None
        if config.data_dir is not None:
            root = Path(config.data_dir)
            self.files = FileStore(root / "files", self.ids, self.clock, persist=True)
            self.batches = BatchStore(root / "batches")
            self._clock_path = root / "clock.json"
            self._resume_clock()
        else:
            self._tempdir = tempfile.mkdtemp(prefix="batchport-emulator-")
            self.files = FileStore(Path(self._tempdir), self.ids, self.clock, persist=False)
            self.batches = BatchStore(None)
        self._own_responder = responder is None
        self._retired: list[Responder] = []
        self.responder: Responder = responder or make_responder(
            config.responder, clock=self.clock.now
        )
        self._apply_policies()
        self.dialects: Dialects = build_dialects(
            DialectContext(
                config=lambda: self.config,
                now=self.clock.now,
                files=self.files,
                batch_finished=self.batches.finished,
            )
        )
        self.webhooks = WebhookDispatcher(
            config=lambda: self.config,
            faults=lambda: self.faults,
            clock=self.clock,
            new_id=lambda: self.ids.uuid().replace("-", ""),
        )
        self.batches.on_terminal(self.webhooks.batch_finished)
        self.processor = Processor(self)
        self.processor.restore()
        self.clock.subscribe(self.processor.wake)
        self.clock.subscribe(self.webhooks.wake)
        self.clock.subscribe(self._save_clock)

    def _resume_clock(self) -> None:
        """Continue virtual time from before a restart, so stored times never run ahead.

        A clock that was moved, scaled or frozen resumes where it stood; one that followed
        wall time keeps following it. Either way it resumes no earlier than the newest
        time stored on a batch or file (the saved clock may predate a kill).
        """
        saved: dict[str, Any] = {}
        if self._clock_path is not None and self._clock_path.exists():
            try:
                saved = read_json(self._clock_path)
            except (OSError, ValueError):
                saved = {}
        newest = max(
            [stamp for b in self.batches.all() for stamp in _batch_times(b)]
            + [float(f.created_at) for f in self.files.all()],
            default=0.0,
        )
        if isinstance(saved.get("now"), int | float) and not saved.get("wall", True):
            self.clock.set(max(float(saved["now"]), newest))
        else:
            self.clock.resume(newest)

    def _save_clock(self) -> None:
        if self._clock_path is not None:
            write_json_atomic(
                self._clock_path, {"now": self.clock.now(), "wall": self.clock.tracks_wall}
            )

    def _apply_policies(self) -> None:
        c = self.config
        self.faults = FaultPolicy(c.faults, c.seed)
        self.progression = ProgressionModel(c.progression, c.faults)
        self.limiter = RateLimiter(c.realtime.rpm, c.realtime.tpm, self.clock.now)
        self.latency = LatencyModel(
            base_s=c.realtime.latency_base_s,
            per_output_token_s=c.realtime.latency_per_output_token_s,
            jitter=c.realtime.latency_jitter,
            seed=c.seed,
            distribution=c.realtime.latency_distribution,
            sigma=c.realtime.latency_sigma,
        )
        self.realtime_errors = ErrorModel(
            c.realtime.error_rate, tuple(c.realtime.error_kinds), c.seed
        )

    def accepted_keys(self) -> list[str]:
        return [k.get_secret_value() for k in self.config.api_keys]

    # -- files ----------------------------------------------------------------

    def begin_upload(self, max_bytes: int | None = None, *, bind: bool = True) -> UploadSink:
        """A sink for one upload, capped at ``max_bytes`` (by default the largest file
        any purpose allows); 413 :class:`ApiError` beyond it.

        Called from a task (an HTTP handler), the partial file is removed and its
        handle closed as soon as that task ends without :meth:`finish_upload` having
        stored it: a client that disconnects mid-upload leaves nothing behind. An upload
        spanning several requests (Gemini's resumable sessions) passes ``bind=False``
        and aborts the sink itself.
        """
        cap = self.config.limits.file_max_bytes if max_bytes is None else max_bytes
        sink = self.files.begin_upload(cap)
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            task = None
        if task is not None and bind:
            sink.bind(task)
        return sink

    def adopt_upload(
        self,
        sink: UploadSink,
        *,
        filename: str,
        dialect: Dialect,
        expires_after_s: int | None,
        details: str | None = None,
        principal: str | None = None,
    ) -> FileRecord:
        """Store an upload its dialect has already checked (Gemini's Files API), with the
        rules' input purpose; ``details`` keeps what the shared record has no field for."""
        rules = dialect.rules
        sink.close()
        record = self.files.commit(
            sink.path,
            filename=filename,
            purpose=rules.input_purpose,
            dialect=dialect.name,
            expires_after_s=expires_after_s,
            default_expiry=False,
            make_id=lambda: rules.file_id(self.ids, rules.input_purpose),
            principal=principal,
            status_details=details,
        )
        sink.stored()
        return record

    def dialect_file(
        self, file_id: str, dialect: Dialect, *, principal: str | None = None
    ) -> FileRecord | None:
        """A live file made through ``dialect`` (an upload or a batch's results) that
        ``principal`` may see, or ``None``."""
        record = self.files.find(file_id)
        if record is None or record.dialect != dialect.name:
            return None
        return record if self._file_owned(record, principal) else None

    def finish_upload(
        self,
        sink: UploadSink,
        *,
        filename: str | None,
        purpose: str | None,
        expires_after_s: int | None,
        dialect: Dialect,
        principal: str | None = None,
    ) -> FileRecord:
        """Check a received upload against the purpose's rules and store it.

        Raises :class:`ApiError` 400 (and removes the data) for a missing file or
        purpose, an unknown purpose, and for batch files the dialect's rules refuse
        (OpenAI: too large, not ``.jsonl``, empty or not JSON Lines).
        """
        rules = dialect.rules
        sink.close()
        try:
            filename, purpose = _required_fields(filename, purpose)
            if purpose == "batch":
                rules.check_upload(sink, filename, expires_after_s)
        except ApiError:
            sink.abort()
            raise
        record = self.files.commit(
            sink.path,
            filename=filename,
            purpose=purpose,
            dialect=dialect.name,
            expires_after_s=expires_after_s,
            status=rules.initial_file_status,
            default_expiry=rules.default_file_expiry,
            make_id=lambda: rules.file_id(self.ids, purpose),
            principal=principal,
        )
        sink.stored()
        return record

    # -- scoping by principal ------------------------------------------------------

    def _file_principal(self, record: FileRecord) -> str | None:
        if record.principal is None and record.purpose == "batch_output":
            # result files are named ``batch_<batch id>_<kind>.jsonl`` by the processor
            stem = record.filename.removeprefix("batch_").rpartition("_")[0]
            if stem in self.batches:
                return self.batches.get(stem).principal
        return record.principal

    def file_visible(self, record: FileRecord, principal: str | None) -> bool:
        """Whether ``principal`` may see ``record`` (see the module's docstring)."""
        if record.purpose not in SHOWN_PURPOSES:
            return False  # an inline batch's requests or results: reached through the batch
        return self._file_owned(record, principal)

    def _file_owned(self, record: FileRecord, principal: str | None) -> bool:
        if principal is None:
            return True
        owner = self._file_principal(record)
        return owner is None or owner == principal

    @staticmethod
    def batch_visible(batch: Batch, principal: str | None) -> bool:
        return principal is None or batch.principal is None or batch.principal == principal

    def _own_file(self, file_id: str, principal: str | None) -> FileRecord:
        record = self.files.get(file_id)
        if not self.file_visible(record, principal):
            raise file_not_found(file_id)
        return record

    def _own_batch(self, batch_id: str, principal: str | None) -> Batch:
        batch = self.batches.get(batch_id)
        if not self.batch_visible(batch, principal):
            raise batch_not_found(batch_id)
        return batch

    def poll_file(
        self, file_id: str, dialect: Dialect, *, principal: str | None = None
    ) -> FileRecord:
        """Read a file as a client's retrieve does (an Azure upload may become processed);
        raises :class:`ApiError` 404 for unknown, deleted or expired ids."""
        return dialect.rules.refresh(self._own_file(file_id, principal), read=True)

    def list_files(
        self,
        dialect: Dialect,
        *,
        after: str | None,
        limit: int,
        descending: bool,
        purpose: str | None,
        principal: str | None = None,
    ) -> Page[FileRecord]:
        """A page of live files (of every dialect), oldest first unless ``descending``."""
        page = self.files.list_files(
            after=after,
            limit=limit,
            descending=descending,
            purpose=purpose,
            visible=lambda r: self.file_visible(r, principal),
        )
        for record in page.items:
            dialect.rules.refresh(record)
        return page

    def file_content_path(self, file_id: str, *, principal: str | None = None) -> Path:
        """Where a file's content is; raises :class:`ApiError` 404, or 400 for a purpose
        whose content cannot be downloaded."""
        self._own_file(file_id, principal)
        return self.files.downloadable_path(file_id)

    def delete_file(self, file_id: str, *, principal: str | None = None) -> FileRecord:
        self._own_file(file_id, principal)
        return self.files.delete(file_id)

    # -- batches ------------------------------------------------------------------

    async def create_inline_batch(
        self,
        body: UploadSink,
        *,
        endpoint: str,
        dialect: Dialect,
        principal: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Batch:
        """Create a batch whose requests came inline in a create body (Anthropic's,
        Gemini's), now received into ``body``: the dialect's rules check it and write the
        input file (on a worker thread), then it runs like any other batch. Raises
        :class:`ApiError` 400 for a body the rules refuse; ``body`` is removed either way.
        ``metadata`` is stored on the batch.
        """
        rules = dialect.rules
        body.close()
        out = self.begin_upload()
        out.close()

        def convert() -> int:  # on a worker thread: parsing 256 MB takes a while
            raw = body.path.read_bytes()
            with open(out.path, "wb") as fh:
                return rules.inline_input(raw, fh)

        try:
            total = await asyncio.to_thread(convert)
        except BaseException:
            out.abort()
            raise
        finally:
            body.abort()
        record = self.files.commit(
            out.path,
            filename="requests.jsonl",
            purpose=rules.input_purpose,
            dialect=dialect.name,
            expires_after_s=None,
            default_expiry=False,
            make_id=lambda: rules.file_id(self.ids, rules.input_purpose),
            principal=principal,
        )
        out.stored()
        params = CreateParams(record.id, endpoint, "24h", metadata, None)
        return self.create_batch(params, dialect=dialect, principal=principal, total=total)

    def create_batch(
        self,
        params: CreateParams,
        *,
        dialect: Dialect,
        principal: str | None = None,
        total: int = 0,
    ) -> Batch:
        """Create a batch in ``validating``; raises :class:`ApiError` for a bad input file
        or a refusal of the dialect's rules (an Azure file still ``pending``, ...).
        ``total`` is the request count when it is known before validation (inline)."""
        record = self.files.find(params.input_file_id)
        if record is not None and not self._file_owned(record, principal):
            raise file_not_found(params.input_file_id)  # never run another's file
        missing = record is None
        if missing and self.config.batches.missing_input_file == "not_found":
            raise file_not_found(params.input_file_id)
        rules = dialect.rules
        if record is not None and record.purpose != rules.input_purpose:
            raise ApiError(
                400,
                f"The input file must have purpose '{rules.input_purpose}', but "
                f"{record.id} has purpose '{record.purpose}'.",
                param="input_file_id",
                code="invalid_value",
            )
        admission = rules.check_create(params, record)
        now = self.clock.now()
        self.batches.seq += 1
        batch_id = rules.batch_id(self.ids)
        while batch_id in self.batches:
            batch_id = rules.batch_id(self.ids)
        batch = Batch(
            id=batch_id,
            seq=self.batches.seq,
            dialect=dialect.name,
            endpoint=params.endpoint,
            input_file_id=params.input_file_id,
            completion_window=params.completion_window,
            metadata=params.metadata,
            output_expires_after_s=params.output_expires_after_s,
            created_at=int(now),
            expires_at=int(rules.deadline(now)),
            faults=rules.adjust_faults(self.faults.plan_batch(self.batches.seq)),
            stage_since=now,
            input_missing=missing,
            principal=principal,
        )
        batch.counts.total = total
        if admission is not None:
            batch.held_model, batch.held_tokens = admission.model, admission.tokens
        self.batches.add(batch)
        rules.admitted(batch.id, admission)
        self.processor.wake()
        return batch

    def poll_batch(self, batch_id: str, *, principal: str | None = None) -> Batch:
        """Read a batch as a client's status poll does.

        Besides returning the batch this *records the observation*, which is the
        only thing the after-N-polls progression reacts to; the processor (not
        this read) then makes any move the poll allowed.
        """
        self._own_batch(batch_id, principal)
        self.batches.record_poll(batch_id)
        self.processor.wake()
        return self.batches.get(batch_id)

    def list_batches(
        self, *, after: str | None, limit: int, principal: str | None = None
    ) -> Page[Batch]:
        """A page of batches of every dialect, newest first."""
        visible = None if principal is None else lambda b: self.batch_visible(b, principal)
        return self.batches.list_batches(after=after, limit=limit, visible=visible)

    def cancel_batch(self, batch_id: str, *, principal: str | None = None) -> Batch:
        """Start cancelling; idempotent while cancelling/cancelled; 409 once finished."""
        batch = self._own_batch(batch_id, principal)
        if batch.status in (Status.CANCELLING, Status.CANCELLED):
            return batch
        if not can_cancel(batch.status):
            raise cancel_conflict(batch.status.value)
        self.processor.sync(batch.id)
        self.progression.release(batch, self.clock.now())
        self.batches.transition(batch, Status.CANCELLING, self.clock.now())
        self.processor.wake()
        return batch

    def delete_batch(
        self, batch_id: str, *, principal: str | None = None, stop: bool = False
    ) -> Batch:
        """Forget a finished batch and its input and result files.

        Raises :class:`ApiError` 404 for an unknown id, 400 (``x-should-retry: false``)
        while it is still running, unless ``stop`` (Gemini's delete, which stops the
        batch's processing and forgets it at once).
        """
        batch = self._own_batch(batch_id, principal)
        if not batch.terminal and stop:
            self.processor.discard(batch_id)
        elif not batch.terminal:
            raise ApiError(
                400,
                f"Batch {batch_id} cannot be deleted while it is still processing; "
                "cancel it first.",
                headers={"x-should-retry": "false"},
            )
        self.batches.remove(batch_id)
        for file_id in (batch.input_file_id, batch.output_file_id, batch.error_file_id):
            if file_id is not None and self.files.find(file_id) is not None:
                self.files.delete(file_id)
        return batch

    def batch_results_path(self, batch_id: str, *, principal: str | None = None) -> Path | None:
        """Where a finished batch's output file is (``None``: no output); 404 for an
        unknown id."""
        batch = self._own_batch(batch_id, principal)
        if batch.output_file_id is None or self.files.find(batch.output_file_id) is None:
            return None
        return self.files.content_path(batch.output_file_id)

    # -- control ------------------------------------------------------------------

    def configure(self, patch: Mapping[str, Any]) -> EmulatorConfig:
        """Deep-merge ``patch`` into the config; raises pydantic's ``ValidationError``."""
        new = self.config.merged(patch)
        old, self.config = self.config, new
        if new.clock.scale != old.clock.scale:
            self.clock.set_scale(new.clock.scale)
        if new.responder != old.responder and self._own_responder:
            self._retired.append(self.responder)
            self.responder = make_responder(new.responder, clock=self.clock.now)
        self._apply_policies()
        self.processor.wake()
        return new

    def advance_clock(self, seconds: float) -> None:
        """Move virtual time forward; raises ``ValueError`` for a negative amount."""
        self.clock.advance(seconds)

    def set_clock(self, timestamp: float) -> None:
        self.clock.set(timestamp)

    def set_clock_scale(self, scale: float) -> None:
        """Change the clock rate (and the config's ``clock.scale`` with it)."""
        self.configure({"clock": {"scale": scale}})

    def reset(self) -> None:
        """Forget every file, batch and webhook delivery (the config and clock stay)."""
        self.processor.close()
        self.batches.clear()
        self.files.clear()
        self.dialects.clear()
        self.webhooks.clear()

    def batch_summaries(self) -> list[dict[str, Any]]:
        """Every batch of every dialect, oldest first, in the control endpoint's shape."""
        return [
            {
                "id": b.id,
                "dialect": b.dialect,
                "status": b.status.value,
                "endpoint": b.endpoint,
                "metadata": b.metadata,
                "input_file_id": b.input_file_id,
                "request_counts": {
                    "total": b.counts.total,
                    "completed": b.counts.completed,
                    "failed": b.counts.failed,
                },
            }
            for b in self.batches.all()
        ]

    async def aclose(self) -> None:
        """Close files, open uploads and owned responders; remove the temporary directory."""
        self.processor.close()
        self.dialects.clear()
        self._save_clock()
        retired, self._retired = self._retired, []
        for responder in retired:
            await responder.aclose()
        if self._own_responder:
            await self.responder.aclose()
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)


def _batch_times(batch: Batch) -> list[float]:
    stamps = [float(t) for t in batch.timestamps.values() if t is not None]
    return [float(batch.created_at), batch.stage_since, *stamps]


def _required_fields(filename: str | None, purpose: str | None) -> tuple[str, str]:
    """The upload's file name and purpose; raises :class:`ApiError` 400 for a missing
    one or an unknown purpose."""
    if filename is None:
        raise ApiError(
            400,
            "Missing required parameter: 'file'.",
            param="file",
            code="missing_required_parameter",
        )
    if purpose is None:
        raise ApiError(
            400,
            "Missing required parameter: 'purpose'.",
            param="purpose",
            code="missing_required_parameter",
        )
    if purpose not in PURPOSES:
        raise ApiError(
            400,
            f"Invalid value: '{purpose[:64]}'. Supported values are: "
            + ", ".join(f"'{p}'" for p in PURPOSES)
            + ".",
            param="purpose",
            code="invalid_value",
        )
    return filename, purpose
