"""Collecting a finished shard: its results, checked, into the ledger in one commit.

The backend streams neutral :class:`~batchport.backends.models.ResultRow` s; each is
checked as it arrives (its ``custom_id`` belongs to the shard and comes once, no more
results than requests, no fewer than the provider says ran), written to the shard's
result blob, and turned into a settlement or a resubmission. Nothing is committed
until the whole stream checks out: then every settlement, the child shard for rows
worth another try, and the shard's move to ``reconciled`` commit together. A stream
that does not check out is fetched again; if it still does not, the run stops with a
:class:`RunError` naming the shard, the source and the line, and can be resumed —
nothing is resubmitted and nothing is paid twice.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field

import orjson

from batchport.backends.base import Backend
from batchport.backends.compact import CompactResults, PlainRow, as_result_row
from batchport.backends.models import BatchError, Job, JobStatus, Outcome, ResultRow, ShardSpec
from batchport.errors import BackendError, NotFoundError, ResultLineError, RunError
from batchport.jsonl import UTF8_BOM
from batchport.runner.deadline import route_checkpoint
from batchport.runner.options import RunOptions
from batchport.runner.progress import ProgressSink
from batchport.runner.records import RecordWriter
from batchport.runner.retry import Retrier
from batchport.store import (
    CancelReason,
    PendingRow,
    RunState,
    RunStore,
    Settlement,
    ShardRecord,
    ShardState,
    result_key,
)
from batchport.store.base import PACKED_INDEX_MASK
from batchport.store.bulk import SettlementBatch

__all__ = ["Collector", "encode_result"]

log = logging.getLogger("batchport.runner")
_TRIES = 3


def encode_result(row: ResultRow) -> bytes:
    """The runner's own line for a settled row: status, error, text, and the body —
    the provider's line embedded verbatim with the path to its body when there is
    one, so nothing is serialized twice."""
    err = row.error
    error = [err.code, err.message, err.type, err.param] if err else None
    return _encode(
        row.custom_id, row.status_code, error, row.text, row.raw, row.body_path, row.body
    )


def _encode(
    custom_id: str,
    status_code: int | None,
    error: list[str | None] | None,
    text: str | None,
    raw: bytes,
    body_path: tuple[str, ...],
    body: object,
) -> bytes:
    head = orjson.dumps(
        {"custom_id": custom_id, "status_code": status_code, "error": error, "text": text}
    )
    raw = raw.removeprefix(UTF8_BOM)
    if raw and body_path:
        path = orjson.dumps(body_path)
        return b"".join((head[:-1], b',"body_path":', path, b',"line":', raw, b"}\n"))
    return head[:-1] + b',"body":' + orjson.dumps(body) + b"}\n"


@dataclass(slots=True)
class _Verdict:
    outcome: Outcome
    retryable: bool
    code: str | None = None
    message: str | None = None


_OK = _Verdict(Outcome.SUCCEEDED, False)
#: the runner's own cancels, whose unfinished rows move on to a child shard
_MOVES_ON = frozenset({CancelReason.STALLED, CancelReason.DEADLINE})
_LOST = _Verdict(
    Outcome.MISSING, True, "results_lost", "the provider no longer had the job's results"
)


# While a shard's results stream in, each row still expected is one int under the id
# the provider returns it by: its index, position and attempt packed together
# (PendingRow.pack).
_unpack = PendingRow.unpack
_IDX = PACKED_INDEX_MASK


@dataclass(slots=True)
class _Tally:
    settle: SettlementBatch = field(default_factory=SettlementBatch)
    retry: list[PendingRow] = field(default_factory=list)
    #: rows not seen yet, packed (see PendingRow.pack), by the id the provider returns them under
    left: dict[str, int] = field(default_factory=dict)
    #: the caller's custom_id of each provider id, when the backend gave the provider
    #: others; None: they are the caller's
    names: dict[str, str] | None = None
    lost: bool = False

    def pending(self) -> Iterator[PendingRow]:
        """The rows not seen yet."""
        names = self.names
        for cid, packed in self.left.items():
            yield _unpack(cid if names is None else names[cid], packed)


class Collector:
    def __init__(
        self,
        store: RunStore,
        run_id: str,
        backend: Backend,
        options: RunOptions,
        progress: ProgressSink,
        retry: Retrier,
        spec_of: Callable[[ShardRecord], ShardSpec],
    ) -> None:
        self.spec_of = spec_of
        self.store = store
        self.run_id = run_id
        self.backend = backend
        self.opts = options
        self.progress = progress
        self.retry = retry

    # -- public ----------------------------------------------------------------------
    async def collect(self, shard: ShardRecord, job: Job) -> ShardRecord:
        """Settle or requeue every unsettled row of a finished shard, in one commit."""
        shard = self.store.get_shard(self.run_id, shard.shard_id)  # a cancel may have tagged it
        no_retry = self._no_retry(shard)
        tally = await self._read_checked(shard, job, no_retry)
        by_line = {e.line: e for e in job.errors if e.line is not None}
        try:
            for rec in tally.pending():
                v = _LOST if tally.lost else _unseen(rec, job, shard, by_line)
                v = dataclasses.replace(v, retryable=v.retryable and not no_retry)
                if v.retryable and self._may_retry(rec, shard):
                    tally.retry.append(rec)
                else:
                    tally.settle.append(_settlement(rec, v))
            with self.store.transaction():
                n = self.store.settle_rows(self.run_id, tally.settle)
                if tally.retry:
                    self._spawn_child(shard, tally.retry)
                shard = self.store.update_shard(
                    self.run_id,
                    shard.shard_id,
                    expect=ShardState.FINISHED,
                    state=ShardState.RECONCILED,
                )
        finally:
            tally.settle.close()
        self.progress.settled(n)
        return shard

    def fail_shard(self, shard: ShardRecord, exc: BackendError) -> ShardRecord:
        """The provider refused the shard for good (a non-retryable submit error)."""
        v = _Verdict(Outcome.FAILED, False, exc.code or "batch_rejected", exc.message)
        return self._settle_all(shard, v, ShardState.RECONCILED, last_error=str(exc))

    def abandon(self, shard: ShardRecord) -> ShardRecord:
        """The run was cancelled before this shard had a job."""
        v = _Verdict(Outcome.CANCELLED, False, "run_cancelled", "the run was cancelled")
        return self._settle_all(shard, v, ShardState.ABANDONED)

    def children_of(self, shard: ShardRecord) -> list[str]:
        return [
            s.shard_id
            for s in self.store.shards(self.run_id)
            if s.parent_id == shard.shard_id and not ShardState(s.state).is_final
        ]

    # -- reading -----------------------------------------------------------------------
    def _may_retry(self, rec: PendingRow, shard: ShardRecord) -> bool:
        """Whether a retryable row moves on: within ``max_attempts``, or always when a
        deadline cancelled its batch (the fallback is another route, not a resubmit)."""
        return rec.attempt < self.opts.max_attempts or shard.cancel_reason == CancelReason.DEADLINE

    def _no_retry(self, shard: ShardRecord) -> bool:
        run_state = self.store.get_run(self.run_id).state
        return run_state in (RunState.CANCELLING, RunState.CANCELLED) or (
            shard.cancel_reason == CancelReason.USER
        )

    async def _read_checked(self, shard: ShardRecord, job: Job, no_retry: bool) -> _Tally:
        problem = ""
        for attempt in range(1, _TRIES + 1):
            try:
                return await self.retry.call(
                    f"results of {shard.shard_id}",
                    lambda: self._read(shard, job, no_retry),
                )
            except ResultLineError as exc:
                problem = f"results cannot be read: {exc}"
            except NotFoundError as exc:  # deleted or expired at the provider
                return self._lost(shard, job, exc)
            except OSError as exc:  # nothing was committed; the blob was not kept
                full = exc.errno == errno.ENOSPC
                problem = "disk full while storing its results" if full else f"{exc}"
            log.warning("shard %s (try %d): %s", shard.shard_id, attempt, problem)
        raise RunError(
            f"shard {shard.shard_id} (job {job.id}): {problem}; nothing was resubmitted; "
            "resume the run to try again"
        )

    def _lost(self, shard: ShardRecord, job: Job, exc: NotFoundError) -> _Tally:
        """The provider no longer has the job's results: every row of the shard goes
        to a child batch (while attempts last), so the run still has an end."""
        msg = f"shard {shard.shard_id}: the results of job {job.id} are gone ({exc.message})"
        log.warning("%s; its rows are submitted again", msg)
        self.progress.note(f"{msg}; resubmitting its rows")
        return _Tally(left=self.store.unsettled_packed(self.run_id, shard.shard_id), lost=True)

    async def _read(self, shard: ShardRecord, job: Job, no_retry: bool) -> _Tally:
        # the shard's unsettled rows, read afresh for every try (one copy in memory)
        tally = self._keyed(shard, self.store.unsettled_packed(self.run_id, shard.shard_id))
        try:
            return await self._fill(tally, shard, job, no_retry)
        except BaseException:
            tally.settle.close()
            raise

    def _keyed(self, shard: ShardRecord, left: dict[str, int]) -> _Tally:
        """A tally expecting the rows ``left`` (packed, by custom_id), by the id the
        provider returns them under (the caller's, unless the backend had to give the
        provider another)."""
        backend = type(self.backend)
        if backend.provider_id is Backend.provider_id:
            return _Tally(left=left)
        spec, wire, pos_of = self.spec_of(shard), self.backend.provider_id, PendingRow.pos_of
        ids = {wire(spec, cid, pos_of(packed)): cid for cid, packed in left.items()}
        return _Tally(left={pid: left[cid] for pid, cid in ids.items()}, names=ids)

    async def _fill(
        self,
        tally: _Tally,
        shard: ShardRecord,
        job: Job,
        no_retry: bool,
    ) -> _Tally:
        key = result_key(self.run_id, shard.shard_id)
        left, settle, count, offset, most = tally.left, tally.settle, 0, 0, shard.rows
        names = tally.names
        settle.result_key = key
        succeeded = Outcome.SUCCEEDED
        backend = self.backend
        stream = (
            backend.compact_results(job)
            if isinstance(backend, CompactResults)
            else _one_by_one(backend.results(job))
        )
        # the plain rows' loop is inlined: it runs for nearly every row of most shards
        plain, put = 0, settle.succeeded_rows()
        with self.store.blobs.writer(key) as out:
            # little memory held while other shards stream too: settlements are packed
            # each time some 256 KiB of records are written
            records = RecordWriter(out, flushed=settle.pack)
            add = records.add  # the record's length in the blob (most are compressed)
            async with aclosing(stream) as batches:  # type: ignore[type-var]
                async for batch in batches:
                    for row in batch:
                        count += 1
                        if type(row) is PlainRow:  # a plain success: the bulk of most shards
                            cid, code, text, body, usage, raw, path, _, _ = row
                            packed = left.pop(cid, None)
                            if packed is None or count > most:
                                raise self._refusal(as_result_row(row), shard, count)
                            if names is not None:
                                cid = names[cid]
                            size = add(_encode(cid, code, None, text, raw, path, body))
                            if usage is None:
                                put((packed & _IDX, code, offset, size, 0, 0, 0, 0, 0))
                            else:
                                put((packed & _IDX, code, offset, size, *usage, 0))
                            plain += 1
                        else:
                            assert isinstance(row, ResultRow)
                            packed = left.pop(row.custom_id, None)
                            if packed is None or count > most:
                                raise self._refusal(row, shard, count)
                            rec = _unpack(
                                row.custom_id if names is None else names[row.custom_id], packed
                            )
                            v = (
                                _OK
                                if row.outcome is succeeded
                                else self._judge(row, shard, no_retry)
                            )
                            if v.retryable and self._may_retry(rec, shard):
                                tally.retry.append(rec)
                                continue
                            if row.custom_id != rec.custom_id:  # under the provider's id
                                row = dataclasses.replace(row, custom_id=rec.custom_id)
                            size = add(encode_result(row))
                            settle.append(_settled(rec, row, v, key, offset, size))
                        offset += size
            records.close()
        settle.count += plain
        ran = job.counts.completed + job.counts.failed
        if count < ran:
            raise ResultLineError(
                f"{count} result(s) for the {ran} request(s) the provider says ran",
                source=f"job {job.id}",
                rule="result_truncated",
            )
        return tally

    def _refusal(self, row: ResultRow, shard: ShardRecord, count: int) -> ResultLineError:
        """Why a result cannot belong to this shard."""
        cid = row.custom_id
        try:
            ours = self.store.get_row(self.run_id, cid).shard_id == shard.shard_id
        except KeyError:
            ours = False
        if count > shard.rows:
            rule, what = "result_too_many", f"more results than the shard's {shard.rows} requests"
        elif ours:
            rule, what = "result_repeated_custom_id", f"custom_id {cid!r} comes twice"
        else:
            rule, what = "result_unknown_custom_id", f"custom_id {cid!r} is not in this shard"
        return ResultLineError(what, source=row.source or None, line=row.line, rule=rule)

    def _judge(self, row: ResultRow, shard: ShardRecord, no_retry: bool) -> _Verdict:
        err = row.error
        retryable = row.retryable
        if row.outcome is Outcome.CANCELLED:  # only the runner's own stall cancel retries
            retryable = shard.cancel_reason in _MOVES_ON
        code = err.code if err else None
        if not row.outcome.ok and code is None:
            code = f"http_{row.status_code}" if row.status_code else row.outcome.value
        return _Verdict(row.outcome, retryable and not no_retry, code, err.message if err else None)

    # -- writing -----------------------------------------------------------------------
    def _settle_all(
        self, shard: ShardRecord, v: _Verdict, state: ShardState, **extra: str
    ) -> ShardRecord:
        rows = self.store.unsettled_of_shard(self.run_id, shard.shard_id)
        with self.store.transaction():
            n = self.store.settle_rows(self.run_id, [_settlement(r, v) for r in rows])
            shard = self.store.update_shard(
                self.run_id, shard.shard_id, expect=shard.state, state=state, **extra
            )
        self.progress.settled(n)
        return shard

    def _spawn_child(self, parent: ShardRecord, rows: Iterable[PendingRow]) -> None:
        by_pos = {r.pos: r for r in rows}
        attempt = max(r.attempt for r in by_pos.values()) + 1
        child_id = f"{parent.shard_id.split('-')[0]}-{attempt}"
        key = f"{self.run_id}/shards/{child_id}.jsonl"
        moves: list[tuple[str, str, int, int]] = []
        digest = hashlib.sha256()
        size = 0
        blobs = self.store.blobs
        with blobs.open(parent.input_key) as fin, blobs.writer(key, compressed=True) as fout:
            for pos, line in enumerate(fin, 1):
                rec = by_pos.get(pos)
                if rec is None:
                    continue
                fout.write(line)
                digest.update(line.rstrip(b"\n"))
                size += len(line)
                moves.append((rec.custom_id, child_id, len(moves) + 1, attempt))
        share = max(1, parent.est_tokens * len(moves) // max(1, parent.rows))
        child = ShardRecord.planned(
            self.run_id,
            child_id,
            endpoint=parent.endpoint,
            model=parent.model,
            caller_model=parent.caller_model,
            input_key=key,
            rows=len(moves),
            bytes=size,
            est_tokens=share,
            content_hash=digest.hexdigest()[:16],
            parent_id=parent.shard_id,
            attempt=attempt,
        )
        if parent.cancel_reason == CancelReason.DEADLINE:  # served by the realtime fallback
            child = dataclasses.replace(child, checkpoint=route_checkpoint(self.opts.fallback))
        self.store.add_shard(child)
        self.store.move_rows(self.run_id, moves)
        log.info("shard %s: %d row(s) resubmitted as %s", parent.shard_id, len(moves), child_id)


async def _one_by_one(rows: AsyncIterator[ResultRow]) -> AsyncGenerator[list[ResultRow], None]:
    """A backend's rows as :meth:`CompactResults.compact_results` gives them."""
    async with aclosing(rows):  # type: ignore[type-var]
        async for row in rows:
            yield [row]


def _unseen(
    rec: PendingRow, job: Job, shard: ShardRecord, by_line: Mapping[int, BatchError]
) -> _Verdict:
    """A row the provider returned no result for (``by_line``: the job's errors that
    name a line). Whether a cancelled run still retries it is the caller's call."""
    if job.status is JobStatus.FAILED:
        err = by_line.get(rec.pos)
        if err is not None:
            return _Verdict(Outcome.FAILED, False, err.code, err.message)
        if by_line:  # other lines were at fault; this one never ran
            return _Verdict(Outcome.FAILED, True, "batch_failed", "batch failed validation")
        first = job.errors[0] if job.errors else None
        code = first.code if first else "batch_failed"
        return _Verdict(Outcome.FAILED, False, code, first.message if first else None)
    if job.status is JobStatus.CANCELLED or shard.cancel_reason is not None:
        retry = shard.cancel_reason in _MOVES_ON
        return _Verdict(Outcome.CANCELLED, retry, "batch_cancelled", "the batch was cancelled")
    if job.status is JobStatus.EXPIRED:
        return _Verdict(Outcome.EXPIRED, True, "batch_expired", "the batch expired")
    return _Verdict(Outcome.MISSING, True, "missing", "the provider returned no result for it")


def _settled(
    rec: PendingRow,
    row: ResultRow,
    v: _Verdict,
    key: str,
    offset: int,
    length: int,
    route: str | None = None,
) -> Settlement:
    """A row's settlement from its result (``route``: how it was served, None for batch)."""
    u = row.usage
    ok = v.outcome.ok
    return Settlement(
        rec.idx,
        v.outcome.value,
        row.status_code,
        None if ok else v.code,
        None if ok else v.message,
        key,
        offset,
        length,
        u.input_tokens if u else 0,
        u.output_tokens if u else 0,
        u.cached_tokens if u else 0,
        u.reasoning_tokens if u else 0,
        u.cache_write_tokens if u else 0,
        route,
    )


def _settlement(rec: PendingRow, v: _Verdict) -> Settlement:
    """The outcome of a row that has no result."""
    ok = v.outcome.ok
    return Settlement(
        rec.idx,
        v.outcome.value,
        error_code=None if ok else v.code,
        error_message=None if ok else v.message,
    )
