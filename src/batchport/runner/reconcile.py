"""Reconciliation: stream a shard's result files into the ledger.

Every unsettled row of the shard ends here in exactly one of two places: settled with
an outcome (and the byte range of its result line, so results are read back without
loading files), or moved into a child shard to be submitted again. Settling only ever
touches rows that have no outcome yet, so replaying a reconciliation after a crash
changes nothing that was already decided.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batchport.backends.base import BatchJob, BatchStatus, Usage
from batchport.backends.results import Source, parse_result_line
from batchport.errors import BackendError, InputError
from batchport.runner.download import result_path
from batchport.runner.options import RunOptions
from batchport.runner.outcomes import Outcome, Verdict, classify
from batchport.runner.progress import ProgressSink
from batchport.store import PendingRow, Settlement, ShardRecord, Store

__all__ = ["Reconciler"]

log = logging.getLogger("batchport.runner")
_CHUNK = 5000


class Reconciler:
    def __init__(
        self, store: Store, run_id: str, options: RunOptions, progress: ProgressSink
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.opts = options
        self.progress = progress

    # -- public ----------------------------------------------------------------------
    def reconcile(self, shard: ShardRecord, job: BatchJob) -> ShardRecord:
        """Settle or re-queue every unsettled row of a terminal, downloaded shard."""
        shard = self.store.get_shard(self.run_id, shard.shard_id)  # a cancel may have tagged it
        pending = {r.custom_id: r for r in self._unsettled(shard)}
        run_cancelled = self.store.get_run(self.run_id).state in ("cancelling", "cancelled")
        no_retry = run_cancelled or shard.cancel_reason == "user"
        retry: list[PendingRow] = []
        updates: list[Settlement] = []
        kinds: tuple[Source, Source] = ("output", "error")
        for kind in kinds:
            path = result_path(self.store.run_dir(self.run_id), shard.shard_id, kind)
            if not path.exists():
                continue
            for row_rec, verdict, settled in self._read(path, kind, pending, shard):
                if verdict.retryable and not no_retry and row_rec.attempt < self.opts.max_attempts:
                    retry.append(row_rec)
                else:
                    updates.append(settled)
                if len(updates) >= _CHUNK:
                    self._settle(updates)
        line_errors = {e.line: e for e in job.errors if e.line is not None}
        for row_rec in pending.values():
            verdict = self._unseen(row_rec, job, shard, line_errors, no_retry)
            if verdict.retryable and row_rec.attempt < self.opts.max_attempts:
                retry.append(row_rec)
            else:
                updates.append(_settlement(row_rec, verdict))
        self._settle(updates)
        with self.store.transaction():
            if retry:
                self._spawn_child(shard, retry)
            return self.store.update_shard(self.run_id, shard.shard_id, state="reconciled")

    def fail_shard(self, shard: ShardRecord, exc: BackendError) -> ShardRecord:
        """The provider refused the shard for good (a non-retryable create error)."""
        verdict = Verdict(Outcome.FAILED, False, exc.code or "batch_rejected", exc.message)
        self._settle([_settlement(r, verdict) for r in self._unsettled(shard)])
        return self.store.update_shard(
            self.run_id, shard.shard_id, state="reconciled", last_error=str(exc)
        )

    def abandon(self, shard: ShardRecord) -> ShardRecord:
        """The run was cancelled before this shard was submitted."""
        verdict = Verdict(Outcome.CANCELLED, False, "run_cancelled", "the run was cancelled")
        self._settle([_settlement(r, verdict) for r in self._unsettled(shard)])
        return self.store.update_shard(self.run_id, shard.shard_id, state="abandoned")

    def children_of(self, shard: ShardRecord) -> list[str]:
        return [
            s.shard_id
            for s in self.store.shards(self.run_id)
            if s.parent_id == shard.shard_id and s.state not in ("reconciled", "abandoned")
        ]

    # -- internals -------------------------------------------------------------------
    def _unsettled(self, shard: ShardRecord) -> list[PendingRow]:
        return self.store.unsettled_of_shard(self.run_id, shard.shard_id)

    def _settle(self, updates: list[Settlement]) -> None:
        if updates:
            n = self.store.settle_rows(self.run_id, updates)
            self.progress.settled(n)
            updates.clear()

    def _read(
        self, path: Path, kind: Source, pending: dict[str, PendingRow], shard: ShardRecord
    ) -> Iterator[tuple[PendingRow, Verdict, Settlement]]:
        offset = 0
        cancelled_by_runner = shard.cancel_reason == "stalled"
        with path.open("rb") as f:
            for lineno, line in enumerate(f, 1):
                start, offset = offset, offset + len(line)
                if not line.strip():
                    continue
                try:
                    row = parse_result_line(
                        line.rstrip(b"\r\n"), source=kind, path=str(path), line=lineno
                    )
                except InputError as exc:
                    log.warning("skipping unreadable result line: %s", exc)
                    continue
                rec = pending.pop(row.custom_id, None)
                if rec is None:
                    continue
                err = row.error
                verdict = classify(
                    row.status_code,
                    row.body,
                    err.code if err else None,
                    err.message if err else None,
                    cancelled_by_runner=cancelled_by_runner,
                )
                usage = row.usage() or _NO_USAGE
                ok = verdict.outcome.ok
                settled = Settlement(
                    rec.idx,
                    verdict.outcome.value,
                    row.status_code,
                    None if ok else verdict.error_code,
                    None if ok else verdict.error_message,
                    str(path),
                    start,
                    len(line),
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cached_tokens,
                    usage.reasoning_tokens,
                )
                yield rec, verdict, settled

    def _unseen(
        self,
        rec: PendingRow,
        job: BatchJob,
        shard: ShardRecord,
        line_errors: dict[int, Any],
        no_retry: bool,
    ) -> Verdict:
        """A row with no line in either result file."""
        status = job.status
        if status is BatchStatus.FAILED:
            err = line_errors.get(rec.pos)
            if err is not None:
                return Verdict(Outcome.FAILED, False, err.code, err.message)
            if line_errors:  # other lines were at fault; this one never ran
                return Verdict(Outcome.FAILED, True, "batch_failed", "batch failed validation")
            first = job.errors[0] if job.errors else None
            code = first.code if first else "batch_failed"
            return Verdict(Outcome.FAILED, False, code, first.message if first else None)
        if status is BatchStatus.CANCELLED or shard.cancel_reason is not None:
            retry = shard.cancel_reason == "stalled" and not no_retry
            return Verdict(Outcome.CANCELLED, retry, "batch_cancelled", "the batch was cancelled")
        if status is BatchStatus.EXPIRED:
            return Verdict(Outcome.EXPIRED, not no_retry, "batch_expired", "the batch expired")
        return Verdict(
            Outcome.MISSING, not no_retry, "missing", "the provider returned no result for it"
        )

    def _spawn_child(self, parent: ShardRecord, rows: list[PendingRow]) -> None:
        attempt = max(r.attempt for r in rows) + 1
        base = parent.shard_id.split("-")[0]
        child_id = f"{base}-{attempt}"
        src = Path(parent.input_path)
        dest = src.with_name(f"{self.run_id}.{child_id}.jsonl")
        by_pos = {r.pos: r for r in rows}
        moves: list[tuple[str, str, int, int]] = []
        digest = hashlib.sha256()
        size = 0
        tmp = dest.with_name(dest.name + ".part")
        with src.open("rb") as fin, tmp.open("wb") as fout:
            for pos, line in enumerate(fin, 1):
                rec = by_pos.get(pos)
                if rec is None:
                    continue
                fout.write(line)
                digest.update(line.rstrip(b"\n"))
                size += len(line)
                moves.append((rec.custom_id, child_id, len(moves) + 1, attempt))
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
        share = max(1, parent.est_tokens * len(moves) // max(1, parent.rows))
        self.store.add_shard(
            ShardRecord.planned(
                self.run_id,
                child_id,
                endpoint=parent.endpoint,
                model=parent.model,
                input_path=str(dest),
                rows=len(moves),
                bytes=size,
                est_tokens=share,
                content_hash=digest.hexdigest()[:16],
                parent_id=parent.shard_id,
                attempt=attempt,
            )
        )
        self.store.move_rows(self.run_id, moves)
        log.info("shard %s: %d row(s) resubmitted as %s", parent.shard_id, len(moves), child_id)


_NO_USAGE = Usage()


def _settlement(rec: PendingRow, verdict: Verdict) -> Settlement:
    """The outcome of a row that has no result line."""
    ok = verdict.outcome.ok
    return Settlement(
        rec.idx,
        verdict.outcome.value,
        error_code=None if ok else verdict.error_code,
        error_message=None if ok else verdict.error_message,
    )
