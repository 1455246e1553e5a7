"""Background batch processing: validation, running rows, writing result files.

One :class:`Processor` per emulator walks every unfinished batch through its
lifecycle whenever something may have changed (a new batch, a cancel, a poll,
a clock jump, a config change) or a virtual deadline arrives. It is asyncio
code without aiohttp; tests drive it directly through :meth:`Processor.tick`.

Rows run in a seeded shuffled order, read one by one from the input file by
byte offset (no whole-file read), and their result lines are appended to the
output or error work file as they finish; so the files come out shuffled and
are written streaming. Work files become stored files (purpose
``batch_output``) at the end, and only when non-empty (or when the dialect's
rules publish empty error files).

After a restart on a data directory a batch that was running is recovered from
its work files: whole lines of rows that ran are kept and counted, the other rows
run again (or get their ``batch_cancelled`` lines), so ``request_counts`` always
equal the lines in the files. Buffered lines are pushed to disk before any record
that counts them is saved (the move to ``finalizing``, a cancel).

Where providers differ (the input checker, quota admission, the result-line
form, whether every row gets a line of its own in one file) the processor asks the
batch's dialect, found by the name the batch
stores, so a batch read back from ``--data-dir`` keeps its dialect.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchport_emulator.batches import Batch, BatchErrorEntry, RequestCounts, UsageTotals
from batchport_emulator.dialects import Dialect
from batchport_emulator.dialects.rules import Admission
from batchport_emulator.errors import error_for_status
from batchport_emulator.faults import row_error_body
from batchport_emulator.lifecycle import Status
from batchport_emulator.responders import RespondRequest, RespondResult
from batchport_emulator.responders.serialize import (
    HEAVY_WEIGHT,
    body_weight,
    dismantle,
    dumps_pieces,
)
from batchport_emulator.runs import BatchRun, WorkFile, recover_work_file
from batchport_emulator.validation import InputPlan, read_row

if TYPE_CHECKING:
    from batchport_emulator.state import EmulatorState

log = logging.getLogger(__name__)

ROWS_PER_STEP = 512
#: answer weight (see :func:`~batchport_emulator.responders.serialize.body_weight`)
#: held before their lines are written out, about 8 MB of floats
FLUSH_WEIGHT = 1_048_576
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."


class Processor:
    """Advances batches; one instance per :class:`~batchport_emulator.state.EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.runs: dict[str, BatchRun] = {}
        self._wake = asyncio.Event()
        # The background loop and test-driven drains must never step one batch twice at once.
        self._lock = asyncio.Lock()
        # Batches found mid-way after a restart whose input file is gone: their work
        # files were recovered and are published as they are.
        self._recovered: set[str] = set()

    def restore(self) -> None:
        """After a restart: hand each unfinished batch's held tokens back to its dialect."""
        for batch in self.state.batches.active():
            if batch.held_model is not None and batch.held_tokens > 0:
                admission = Admission(batch.held_model, batch.held_tokens)
                self._dialect(batch).rules.admitted(batch.id, admission)

    def sync(self, batch_id: str) -> None:
        """Write a batch's buffered result lines out before its record is saved."""
        run = self.runs.get(batch_id)
        if run is not None:
            durable = self.state.config.data_dir is not None
            run.output.sync(durable=durable)
            run.error.sync(durable=durable)

    def wake(self) -> None:
        """Ask the loop to look at the batches again (safe to call from the loop thread)."""
        self._wake.set()

    async def run_forever(self) -> None:
        """The background loop; cancelled on shutdown."""
        while True:
            self._wake.clear()
            try:
                deadline = await self.tick()
            except Exception:  # keep serving even if one step breaks
                log.exception("batch processing step failed")
                deadline = self.state.clock.now() + 1.0
            await self._sleep_until(deadline)

    async def _sleep_until(self, deadline: float | None) -> None:
        clock = self.state.clock
        timeout = None if deadline is None else min(clock.real_delay(deadline - clock.now()), 5.0)
        if timeout is not None and timeout <= 0:
            await asyncio.sleep(0)
            return
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def tick(self) -> float | None:
        """Do all work due now; return the next virtual deadline (``now`` if more is ready)."""
        deadlines: list[float] = []
        async with self._lock:
            for batch in self.state.batches.active():
                deadline = await self._advance(batch)
                if deadline is not None:
                    deadlines.append(deadline)
        return min(deadlines) if deadlines else None

    async def drain(self, max_ticks: int = 10_000) -> None:
        """Tick until nothing is due at the current virtual time (for tests)."""
        for _ in range(max_ticks):
            deadline = await self.tick()
            if deadline is None or deadline > self.state.clock.now():
                return
        raise RuntimeError("batch processing did not settle")

    async def _advance(self, batch: Batch) -> float | None:
        state = self.state
        progression = state.progression
        for _ in range(8):  # several stages may end in one step under `immediate`
            now = state.clock.now()
            before = (batch.status, batch.executed)
            if batch.terminal or batch.id not in state.batches:
                return None
            if self._needs_recovery(batch):
                await self._recover(batch)
                continue
            if batch.status in (Status.VALIDATING, Status.IN_PROGRESS) and now >= batch.expires_at:
                self._finish(batch, Status.EXPIRED, "batch_expired", EXPIRED_MESSAGE)
                return None
            if batch.status is Status.VALIDATING and progression.stage_ready(batch, now):
                await self._validate(batch)
            elif batch.status is Status.IN_PROGRESS:
                more = await self._run_rows(batch, now)
                if more:
                    return now
            elif batch.status is Status.FINALIZING and self._lost_rows(batch):
                if await self._run_chunk(batch, batch.counts.total):  # lost to a kill
                    return now
            elif batch.status is Status.FINALIZING and progression.stage_ready(batch, now):
                self._finish(batch, Status.COMPLETED, None, None)
            elif batch.status is Status.CANCELLING and progression.stage_ready(batch, now):
                every = self._dialect(batch).rules.every_row_answered
                write = every or state.config.batches.write_cancelled_rows
                code = "batch_cancelled" if write else None
                self._finish(batch, Status.CANCELLED, code, CANCELLED_MESSAGE)
            if (batch.status, batch.executed) == before:
                break
        return None if batch.terminal else progression.next_deadline(batch, state.clock.now())

    # -- validation ----------------------------------------------------------

    def _fail(self, batch: Batch, errors: list[BatchErrorEntry]) -> None:
        batch.errors = errors
        self.state.batches.transition(batch, Status.FAILED, self.state.clock.now())

    async def _validate(self, batch: Batch) -> None:
        state = self.state
        if batch.faults.fail_validation:
            self._fail(batch, [token_limit_error(batch.model or "gpt-4o-mini", 2_000_000)])
            return
        record = state.files.find(batch.input_file_id)
        if record is None or batch.input_missing:
            self._fail(batch, [missing_file_error(batch.input_file_id)])
            return
        path = state.files.content_path(record.id)
        try:
            plan = await asyncio.to_thread(self._check_input, batch, path)
        except OSError:  # deleted between the check and the read
            plan = None
        if batch.status is not Status.VALIDATING or batch.id not in state.batches:
            return  # cancelled or reset meanwhile
        if plan is None:
            self._fail(batch, [missing_file_error(batch.input_file_id)])
        elif plan.errors:
            batch.model = plan.model
            self._fail(batch, plan.errors)
        else:
            self._start(batch, path, plan)

    def _dialect(self, batch: Batch) -> Dialect:
        return self.state.dialects[batch.dialect]

    def _check_input(self, batch: Batch, path: Path) -> InputPlan:
        rules = self._dialect(batch).rules
        with open(path, "rb") as fh:
            return rules.validate(fh, batch)

    def _start(self, batch: Batch, path: Path, plan: InputPlan) -> None:
        state = self.state
        refusal = self._dialect(batch).rules.admit(batch, plan)
        if refusal is not None:
            batch.model = plan.model
            self._fail(batch, [refusal])
            return
        limit = state.config.limits.enqueued_token_limit
        if limit is not None:
            queued = sum(
                b.held_tokens
                for b in state.batches.active()
                if b.held_model == plan.model and b.status is not Status.VALIDATING
            )
            if queued + plan.estimated_tokens > limit:
                batch.model = plan.model
                self._fail(batch, [token_limit_error(plan.model or "", limit)])
                return
        self._open_run(batch, path, plan)
        batch.model = plan.model
        batch.counts.total = plan.total
        if batch.held_model is None and plan.model is not None:
            batch.held_model, batch.held_tokens = plan.model, plan.estimated_tokens
        state.batches.transition(batch, Status.IN_PROGRESS, state.clock.now())

    def _open_run(
        self, batch: Batch, path: Path, plan: InputPlan, *, fresh: bool = True
    ) -> BatchRun:
        """Open the batch's run; ``fresh`` starts its work files empty."""
        order = list(range(plan.total))
        random.Random(f"{self.state.config.seed}:{batch.seq}").shuffle(order)
        output, error = self._work_files(batch)
        run = BatchRun(
            plan=plan,
            order=order,
            input=open(path, "rb"),  # noqa: SIM115 - closed by BatchRun.close
            output=output,
            error=error,
        )
        if fresh:
            for sink in (run.output, run.error):
                sink.path.unlink(missing_ok=True)
        self.runs[batch.id] = run
        return run

    def _work_files(self, batch: Batch) -> tuple[WorkFile, WorkFile]:
        files = self.state.files
        return (
            WorkFile(files.scratch_path(f"{batch.id}-output")),
            WorkFile(files.scratch_path(f"{batch.id}-error")),
        )

    # -- running rows ----------------------------------------------------------

    async def _run_rows(self, batch: Batch, now: float) -> bool:
        """Run the next chunk of allowed rows; ``True`` if more are allowed right now."""
        allowed = self.state.progression.rows_allowed(batch, now)
        if batch.executed >= batch.counts.total:
            self.sync(batch.id)  # the saved counts must match lines already on disk
            self.state.progression.release(batch, now)
            self.state.batches.transition(batch, Status.FINALIZING, now)
            return False
        return await self._run_chunk(batch, allowed)

    async def _run_chunk(self, batch: Batch, allowed: int) -> bool:
        """Run rows up to ``allowed`` (at most one step); ``True`` if any ran.

        Lines are written as answers come in, at the latest once the answers held
        weigh :data:`FLUSH_WEIGHT` (huge embeddings are not all kept in memory), and
        heavy ones are serialized and written on a worker thread, piece by piece.
        """
        run = self.runs[batch.id]
        if batch.executed >= allowed:
            return False
        upto = min(allowed, batch.executed + ROWS_PER_STEP)
        rows = [self._row(batch, run, i) for i in run.order[batch.executed : upto]]
        width = max(1, self.state.config.batches.row_concurrency)
        held_rows: list[dict[str, Any]] = []
        held: list[RespondResult] = []
        weight = 0
        for start in range(0, len(rows), width):
            group = rows[start : start + width]
            held.extend(await self._respond_group(batch, group))
            if self.runs.get(batch.id) is not run:
                return False  # reset while responders were running
            held_rows.extend(group)
            weight += sum(
                body_weight(r.body) for r in held[-len(group) :] if 200 <= r.status_code < 300
            )
            if weight >= FLUSH_WEIGHT or start + width >= len(rows):
                if not await self._record(batch, run, held_rows, held, heavy=weight > HEAVY_WEIGHT):
                    return False
                batch.executed += len(held_rows)
                held_rows, held, weight = [], [], 0
        for sink in (run.output, run.error):  # a killed server keeps what it showed
            sink.sync(durable=False)
        await asyncio.sleep(0)  # let HTTP handlers in between chunks
        return True

    async def _respond_group(
        self, batch: Batch, rows: Sequence[dict[str, Any]]
    ) -> list[RespondResult]:
        if len(rows) == 1:
            return [await self._respond(batch, rows[0])]
        return list(await asyncio.gather(*(self._respond(batch, r) for r in rows)))

    async def _respond(self, batch: Batch, row: dict[str, Any]) -> RespondResult:
        custom_id = row["custom_id"]
        status = self.state.faults.row_failure(batch.seq, custom_id)
        if status is not None:
            return RespondResult(status, row_error_body(status))
        request = RespondRequest(
            # Validated OpenAI rows always name the batch endpoint; Azure rows may use
            # another url form, or /responses under a "/chat/completions" batch.
            url=str(row.get("url") or batch.endpoint),
            body=row["body"],
            custom_id=custom_id,
            dialect=batch.dialect,
        )
        try:
            return await self.state.responder.respond(request)
        except Exception:  # a broken responder fails the row, not the server
            log.exception("responder failed for custom_id %r", custom_id)
            return RespondResult(500, error_for_status(500).envelope())

    async def _record(
        self,
        batch: Batch,
        run: BatchRun,
        rows: Sequence[dict[str, Any]],
        results: list[RespondResult],
        *,
        heavy: bool,
    ) -> bool:
        """Write the rows' result lines (on a worker thread when ``heavy``, which then
        empties ``results``) and count them; ``False`` if the batch was reset meanwhile."""
        ids = self.state.ids
        line_ids = [(ids.batch_request_id(), ids.request_id()) for _ in rows]
        outcomes = [
            (
                200 <= r.status_code < 300,
                (r.input_tokens, r.cached_tokens, r.output_tokens, r.reasoning_tokens),
            )
            for r in results
        ]
        if heavy:
            # The worker thread also drops the answers (``results`` is the only list
            # holding them): freeing millions of floats takes a while too.
            try:
                await asyncio.to_thread(
                    self._write_lines, batch, run, rows, results, line_ids, results
                )
            except ValueError:  # the files were closed by a reset meanwhile
                if self.runs.get(batch.id) is run:
                    raise
                return False
            if self.runs.get(batch.id) is not run:
                return False
        else:
            self._write_lines(batch, run, rows, results, line_ids)
        counts, usage = batch.counts, batch.usage
        for ok, tokens in outcomes:
            if ok:
                counts.completed += 1
                usage.add(*tokens)
            else:
                counts.failed += 1
        return True

    def _write_lines(
        self,
        batch: Batch,
        run: BatchRun,
        rows: Sequence[dict[str, Any]],
        results: Sequence[RespondResult],
        line_ids: Sequence[tuple[str, str]],
        release: list[RespondResult] | None = None,
    ) -> None:
        """Append each row's result line to the output or error work file (no state
        changes, so it may run on a worker thread); then empty ``release``."""
        for row, result, ids in zip(rows, results, line_ids, strict=True):
            self._write_line(batch, run, row["custom_id"], result, ids)
        if release is not None:  # free huge answers here, not on the event loop
            for held in release:
                dismantle(held)
            release.clear()

    def _write_line(
        self,
        batch: Batch,
        run: BatchRun,
        custom_id: str,
        result: RespondResult,
        ids: tuple[str, str],
    ) -> None:
        dialect = self._dialect(batch)
        ok = 200 <= result.status_code < 300
        body = dialect.rules.result_body(batch, result.body) if ok else result.body

        def frame(body: Mapping[str, Any]) -> bytes:
            return dialect.lines.ran(
                line_id=ids[0],
                custom_id=custom_id,
                status_code=result.status_code,
                request_id=ids[1],
                body=body,
            )

        sink = run.output if ok or dialect.lines.one_file else run.error
        if ok and body_weight(body) > HEAVY_WEIGHT:
            for piece in dumps_pieces(body, frame):
                sink.write(piece)
        else:
            sink.write(frame(body))

    # -- after a restart ---------------------------------------------------------

    def _needs_recovery(self, batch: Batch) -> bool:
        """Whether ``batch`` had rows running before a restart and has no run now."""
        return (
            batch.status in (Status.IN_PROGRESS, Status.FINALIZING, Status.CANCELLING)
            and batch.timestamps.get("in_progress_at") is not None
            and batch.id not in self.runs
            and batch.id not in self._recovered
        )

    async def _recover(self, batch: Batch) -> None:
        """Pick up a batch that was running when the emulator stopped.

        Work files keep only whole lines of rows that ran; the counts and usage are
        taken from them, so they always match the files. The rows without a line run
        again (or, when cancelling or expiring, get their ``batch_cancelled`` lines).
        A batch still running whose input file is gone fails as the real API does.
        """
        state = self.state
        output, error = self._work_files(batch)
        done_out, done_err = await asyncio.gather(
            asyncio.to_thread(recover_work_file, output.path),
            asyncio.to_thread(recover_work_file, error.path),
        )
        plan: InputPlan | None = None
        record = state.files.find(batch.input_file_id)
        if record is not None and not batch.input_missing:
            path = state.files.content_path(record.id)
            try:
                plan = await asyncio.to_thread(self._check_input, batch, path)
            except OSError:
                plan = None
        if plan is not None and plan.errors:
            plan = None
        if batch.terminal or batch.id not in state.batches or batch.id in self.runs:
            return  # reset meanwhile
        if plan is None and batch.status is Status.IN_PROGRESS:
            for sink in (output, error):
                sink.path.unlink(missing_ok=True)
            batch.counts = RequestCounts(total=batch.counts.total)
            batch.usage = UsageTotals()
            self._fail(batch, [missing_file_error(batch.input_file_id)])
            return
        batch.counts.completed = done_out.succeeded + done_err.succeeded
        batch.counts.failed = done_out.lines + done_err.lines - batch.counts.completed
        batch.usage = UsageTotals()
        batch.usage.add(*done_out.tokens)
        if plan is None:
            self._recovered.add(batch.id)
        else:
            run = self._open_run(
                batch, state.files.content_path(batch.input_file_id), plan, fresh=False
            )
            run.output.size, run.error.size = done_out.size, done_err.size
            done = done_out.custom_ids | done_err.custom_ids
            ran = [i for i in run.order if self._custom_id(batch, run, i) in done]
            run.order = ran + [i for i in run.order if self._custom_id(batch, run, i) not in done]
            batch.executed = len(ran)
            batch.counts.total = plan.total
        state.batches.save(batch)

    def _lost_rows(self, batch: Batch) -> bool:
        return batch.id in self.runs and batch.executed < batch.counts.total

    def _row(self, batch: Batch, run: BatchRun, index: int) -> dict[str, Any]:
        """Input row ``index`` in the processor's form (see ``DialectRules.input_row``)."""
        return self._dialect(batch).rules.input_row(read_row(run.input, run.plan, index))

    def _custom_id(self, batch: Batch, run: BatchRun, index: int) -> str:
        return str(self._row(batch, run, index).get("custom_id"))

    # -- finishing ---------------------------------------------------------------

    def _finish(
        self, batch: Batch, target: Status, unrun_code: str | None, message: str | None
    ) -> None:
        """Write unrun rows (if any), publish the work files, and move to ``target``."""
        state = self.state
        state.progression.release(batch, state.clock.now())
        run = self.runs.pop(batch.id, None)
        self._recovered.discard(batch.id)
        if run is None and unrun_code is not None and self._dialect(batch).rules.every_row_answered:
            run = self._open_unstarted(batch)
        if run is None:  # cancelled while validating, or recovered without its input
            for kind in ("output", "error"):
                sink = WorkFile(state.files.scratch_path(f"{batch.id}-{kind}"))
                sink.size = sink.path.stat().st_size if sink.path.exists() else 0
                setattr(batch, f"{kind}_file_id", self._publish(batch, sink, kind))
        else:
            if unrun_code is not None and message is not None:
                lines = self._dialect(batch).lines
                sink = run.output if lines.one_file else run.error
                for index in run.order[batch.executed :]:
                    custom_id = self._row(batch, run, index).get("custom_id", "")
                    sink.write(
                        lines.unrun(
                            line_id=state.ids.batch_request_id(),
                            custom_id=custom_id,
                            code=unrun_code,
                            message=message,
                        )
                    )
            run.close()
            batch.output_file_id = self._publish(batch, run.output, "output")
            batch.error_file_id = self._publish(batch, run.error, "error")
        state.batches.transition(batch, target, state.clock.now())

    def _open_unstarted(self, batch: Batch) -> BatchRun | None:
        """A run over a batch stopped before it started (to give each row its line), or
        ``None`` when its input file is gone."""
        record = self.state.files.find(batch.input_file_id)
        if record is None:
            return None
        path = self.state.files.content_path(record.id)
        plan = self._check_input(batch, path)
        self._open_run(batch, path, plan)
        batch.counts.total = plan.total
        return self.runs.pop(batch.id)

    def _publish(self, batch: Batch, sink: WorkFile, kind: str) -> str | None:
        if sink.size == 0 and kind == "error" and self._dialect(batch).rules.empty_error_file:
            sink.close()
            sink.path.touch()
        elif sink.size == 0:
            sink.path.unlink(missing_ok=True)
            return None
        expires = batch.output_expires_after_s or self.state.config.batches.output_expires_after_s
        record = self.state.files.commit(
            sink.path,
            filename=f"batch_{batch.id}_{kind}.jsonl",
            purpose=self._dialect(batch).rules.result_purpose,
            dialect=batch.dialect,
            expires_after_s=expires,
            make_id=lambda: self._dialect(batch).rules.file_id(self.state.ids, "batch_output"),
        )
        return record.id

    def discard(self, batch_id: str) -> None:
        """Drop a batch's live work and its work files (the batch is being deleted)."""
        run = self.runs.pop(batch_id, None)
        if run is not None:
            run.close()
        self._recovered.discard(batch_id)
        for kind in ("output", "error"):
            self.state.files.scratch_path(f"{batch_id}-{kind}").unlink(missing_ok=True)

    def close(self) -> None:
        for run in self.runs.values():
            run.close()
        self.runs.clear()
        self._recovered.clear()


def missing_file_error(file_id: str) -> BatchErrorEntry:
    return BatchErrorEntry(
        "invalid_request",
        f"Cannot find file {file_id}, or organization org-emulator does not have access to it.",
        "file_id",
        None,
    )


def token_limit_error(model: str, limit: int) -> BatchErrorEntry:
    return BatchErrorEntry(
        "token_limit_exceeded",
        f"Enqueued token limit reached for {model} in organization org-emulator. Limit: "
        f"{limit:,} enqueued tokens. Please try again once some in_progress batches have "
        "been completed.",
        None,
        None,
    )
