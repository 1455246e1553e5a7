"""Preparing a run: cut the input into shard blobs and record the ledger.

One streaming pass plans shards from the caller's requests (so the fingerprint, the
estimates and the prices see what the caller asked for), translates each request for
the provider as its line is written (model to deployment, url form), checks the
translated line against the provider's rules, and inserts one ledger row per request,
all inside one store transaction: a crash in the middle leaves the run in
``planning`` with nothing recorded, and preparing again starts over cleanly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from batchport.errors import InputError, ValidationFailed
from batchport.limits import ProviderProfile
from batchport.planning import duplicate_custom_id
from batchport.requests import Request
from batchport.runner.lease import heartbeat
from batchport.runner.plan import Sharder, ShardPlan
from batchport.store import DuplicateRow, RunStore, ShardRecord
from batchport.validate import Problem, RequestChecker

__all__ = ["prepare_run", "shard_key"]

_ROW_CHUNK = 5000
Translate = Callable[[Request], Request]


def shard_key(run_id: str, shard_id: str) -> str:
    return f"{run_id}/shards/{shard_id}.jsonl"


class _Shard:
    """One shard being written: its blob, its checker and the id its rows go by."""

    __slots__ = ("check", "checker", "cm", "shard_id", "write")

    def __init__(self, sink: _BlobSink, index: int) -> None:
        self.shard_id = f"s{index:04d}"
        self.checker = RequestChecker(sink.label, sink.profile, ids_mapped=sink.ids_mapped)
        self.check = self.checker.check
        key = shard_key(sink.run_id, self.shard_id)
        self.cm = sink.store.blobs.writer(key, compressed=True)
        self.write = self.cm.__enter__().write


class _BlobSink:
    def __init__(
        self,
        store: RunStore,
        run_id: str,
        profile: ProviderProfile,
        label: str,
        tr: Translate | None,
        ids_mapped: bool = False,
    ) -> None:
        self.ids_mapped = ids_mapped
        self.store = store
        self.run_id = run_id
        self.profile = profile
        self.label = label
        self.translate = tr
        self.problems: list[Problem] = []
        self.open: dict[int, _Shard] = {}
        self.models: dict[int, str | None] = {}
        self.sizes: dict[int, int] = {}
        self.pending: list[tuple[int, str, str, int]] = []
        self.idx = 0

    def row(self, shard_index: int, pos: int, request: Request, line: bytes) -> None:
        shard = self.open.get(shard_index)
        if shard is None:
            shard = self.open[shard_index] = _Shard(self, shard_index)
        wire = request
        if self.translate is not None:
            wire = self.translate(request)
            if wire is not request:
                line = wire.to_json()
            self.sizes[shard_index] = self.sizes.get(shard_index, 0) + len(line) + 1
        if shard_index not in self.models:
            self.models[shard_index] = wire.model
        idx = self.idx
        self.idx = idx + 1
        # lines are numbered in input order, so problems point at the caller's input
        shard.check(idx + 1, line, wire)
        shard.write(line + b"\n")
        pending = self.pending
        pending.append((idx, request.custom_id, shard.shard_id, pos))
        if len(pending) >= _ROW_CHUNK:
            self.flush_rows()

    def flush_rows(self) -> None:
        if not self.pending:
            return
        try:
            self.store.add_rows(self.run_id, self.pending)
        except DuplicateRow:
            raise _duplicate(self.store, self.run_id, self.pending) from None
        self.pending = []
        heartbeat()  # a long preparation keeps the event loop, and the renewal, waiting

    def shard_closed(self, shard: ShardPlan) -> None:
        done = self.open.pop(shard.index)
        done.cm.__exit__(None, None, None)
        self.problems.extend(done.checker.report().problems)

    def abort(self, exc: BaseException | None) -> None:
        for shard in self.open.values():
            err = exc or RuntimeError("aborted")
            shard.cm.__exit__(type(err), err, None)
        self.open.clear()


def _duplicate(
    store: RunStore, run_id: str, pending: list[tuple[int, str, str, int]]
) -> InputError:
    seen: set[str] = set()
    for idx, custom_id, _, _ in pending:
        first = store.first_index_of(run_id, custom_id)
        if custom_id in seen or (first is not None and first != idx):
            return duplicate_custom_id(custom_id, idx + 1)
        seen.add(custom_id)
    return InputError("duplicate custom_id in the input", rule="duplicate_custom_id")


def prepare_run(
    store: RunStore,
    run_id: str,
    requests: Iterable[Request],
    profile: ProviderProfile,
    *,
    translate: Translate | None = None,
    ids_mapped: bool = False,
    max_rows: int | None = None,
    max_tokens: int | None = None,
    label: str = "<requests>",
    accept: Callable[[list[ShardPlan]], None] | None = None,
) -> tuple[list[ShardPlan], str]:
    """Write shard blobs and ledger rows for ``requests``; return (shards, fingerprint).

    ``translate`` turns a caller's request into the provider's (a backend's
    ``prepare_request``); ``ids_mapped`` says the backend gives the provider its own ids
    where the caller's break the provider's pattern. Every translated request is checked
    against the provider's rules as it is written; problems are reported with ``label``
    and the request's 1-based position in the input. ``accept`` sees the shards before
    anything is committed and may refuse them by raising (a cost cap). Shards, ledger
    rows and the run's fingerprint commit together; the run stays ``planning``.

    Raises:
        ValidationFailed: a request breaks the provider's rules (nothing is recorded).
        InputError: two requests share a custom_id, a request cannot be translated,
            or the input is empty.
    """
    sink = _BlobSink(store, run_id, profile, label, translate, ids_mapped)
    sharder = Sharder(profile, max_rows=max_rows, max_tokens=max_tokens, sink=sink)
    with store.transaction():
        failure: BaseException | None = None
        try:
            for request in requests:
                sharder.add(request)
            shards = sharder.close()
            sink.flush_rows()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            sink.abort(failure)
        if not shards:
            raise InputError("the run has no requests", rule="empty_file")
        if sink.problems:
            raise ValidationFailed(label, sink.problems)
        shards = [
            dataclasses.replace(s, provider_model=sink.models.get(s.index, s.model)) for s in shards
        ]
        if accept is not None:
            accept(shards)
        for s in shards:
            store.add_shard(
                ShardRecord.planned(
                    run_id,
                    s.shard_id,
                    endpoint=s.endpoint,
                    model=sink.models.get(s.index, s.model),
                    caller_model=s.model,
                    input_key=shard_key(run_id, s.shard_id),
                    rows=s.rows,
                    bytes=sink.sizes.get(s.index, s.bytes),
                    est_tokens=s.est_input_tokens,
                    content_hash=s.content_hash,
                )
            )
        fingerprint = sharder.fingerprint.hexdigest()
        store.update_run(run_id, total_rows=sink.idx, fingerprint=fingerprint)
    return shards, fingerprint
