"""Preparing a run: cut the input into shard files on disk and record the ledger.

One streaming pass writes each shard's JSONL file under ``<run dir>/shards/`` and
inserts one ledger row per request, all inside one store transaction: a crash in the
middle leaves the run in ``planning`` with nothing recorded, and preparing again
starts over cleanly.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from batchport.errors import InputError, ValidationFailed
from batchport.limits import ProviderProfile
from batchport.requests import Request
from batchport.runner.plan import Sharder, ShardPlan
from batchport.store import ShardRecord, Store
from batchport.validate import Problem, RequestChecker

__all__ = ["prepare_run", "shard_path"]

_ROW_CHUNK = 5000


def shard_path(store: Store, run_id: str, shard_id: str) -> Path:
    path = store.run_dir(run_id) / "shards"
    path.mkdir(exist_ok=True)
    return path / f"{run_id}.{shard_id}.jsonl"


class _FileSink:
    def __init__(self, store: Store, run_id: str, profile: ProviderProfile, label: str) -> None:
        self.store = store
        self.run_id = run_id
        self.profile = profile
        self.label = label
        self.checkers: dict[int, RequestChecker] = {}
        self.problems: list[Problem] = []
        self.files: dict[int, BinaryIO] = {}
        self.pending: list[tuple[int, str, str, int]] = []
        self.idx = 0
        self.closed: list[ShardPlan] = []

    def _file(self, index: int) -> BinaryIO:
        f = self.files.get(index)
        if f is None:
            path = shard_path(self.store, self.run_id, f"s{index:04d}")
            f = self.files[index] = path.open("wb")
        return f

    def row(self, shard_index: int, pos: int, request: Request, line: bytes) -> None:
        checker = self.checkers.get(shard_index)
        if checker is None:
            checker = self.checkers[shard_index] = RequestChecker(self.label, self.profile)
        # lines are numbered in input order, so problems point at the caller's input
        checker.check(self.idx + 1, line, request.to_dict())
        f = self._file(shard_index)
        f.write(line)
        f.write(b"\n")
        self.pending.append((self.idx, request.custom_id, f"s{shard_index:04d}", pos))
        self.idx += 1
        if len(self.pending) >= _ROW_CHUNK:
            self.flush_rows()

    def flush_rows(self) -> None:
        if not self.pending:
            return
        try:
            self.store.add_rows(self.run_id, self.pending)
        except sqlite3.IntegrityError as exc:
            raise _duplicate(self.store, self.run_id, self.pending) from exc
        self.pending = []

    def shard_closed(self, shard: ShardPlan) -> None:
        f = self.files.pop(shard.index)
        f.flush()
        os.fsync(f.fileno())
        f.close()
        self.closed.append(shard)
        report = self.checkers.pop(shard.index).report()
        self.problems.extend(report.problems)

    def abort(self) -> None:
        for f in self.files.values():
            f.close()
        self.files.clear()


def _duplicate(store: Store, run_id: str, pending: list[tuple[int, str, str, int]]) -> InputError:
    seen: set[str] = set()
    for idx, custom_id, _, _ in pending:
        try:
            first = store.get_row(run_id, custom_id).idx
        except KeyError:
            first = None
        if custom_id in seen or (first is not None and first != idx):
            return InputError(
                f"custom_id {custom_id!r} appears more than once (request {idx + 1}); "
                "every request in a run needs its own custom_id",
                line=idx + 1,
                rule="duplicate_custom_id",
            )
        seen.add(custom_id)
    return InputError("duplicate custom_id in the input", rule="duplicate_custom_id")


def prepare_run(
    store: Store,
    run_id: str,
    requests: Iterable[Request],
    profile: ProviderProfile,
    *,
    max_rows: int | None = None,
    max_tokens: int | None = None,
    label: str = "<requests>",
) -> tuple[list[ShardPlan], str]:
    """Write shard files and ledger rows for ``requests``; return (shards, fingerprint).

    Every request is checked against the provider's rules as it is written; problems
    are reported with ``label`` and the request's 1-based position in the input.

    Raises:
        ValidationFailed: a request breaks the provider's rules (nothing is recorded).
        InputError: two requests share a custom_id, or the input is empty.
    """
    sink = _FileSink(store, run_id, profile, label)
    sharder = Sharder(profile, max_rows=max_rows, max_tokens=max_tokens, sink=sink)
    with store.transaction():
        try:
            for request in requests:
                sharder.add(request)
            shards = sharder.close()
            sink.flush_rows()
        finally:
            sink.abort()
        if not shards:
            raise InputError("the run has no requests", rule="empty_file")
        if sink.problems:
            raise ValidationFailed(label, sink.problems)
        for s in shards:
            store.add_shard(_record(store, run_id, s))
        store.update_run(run_id, state="running", total_rows=sink.idx)
    return shards, sharder.fingerprint.hexdigest()


def _record(store: Store, run_id: str, s: ShardPlan) -> ShardRecord:
    return ShardRecord.planned(
        run_id,
        s.shard_id,
        endpoint=s.endpoint,
        model=s.model,
        input_path=str(shard_path(store, run_id, s.shard_id)),
        rows=s.rows,
        bytes=s.bytes,
        est_tokens=s.est_input_tokens,
        content_hash=s.content_hash,
    )
