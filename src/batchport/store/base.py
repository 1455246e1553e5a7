"""The run store seam: records, and the :class:`RunStore` protocol the runner uses.

A run store holds runs, their shards and the ledger (one row per input request), so
that a killed process can resume without losing a finished row or submitting a shard
twice. Durability rule: every state change that precedes a remote call (an *intent*)
is committed before the call, and what the call returns is committed as soon as it
returns. Every method commits before it returns, unless it runs inside
:meth:`RunStore.transaction`, which commits once at the end of the block.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

from batchport.store.blobs import BlobStore
from batchport.store.states import ShardState

__all__ = [
    "RESULT_SUFFIX",
    "DuplicateRow",
    "Lease",
    "PendingRow",
    "RowRecord",
    "RunExists",
    "RunRecord",
    "RunStore",
    "Settlement",
    "ShardRecord",
    "default_home",
    "result_key",
    "result_prefix",
]


#: how a shard's own result blob is named after its shard, under :func:`result_prefix`
RESULT_SUFFIX = ".jsonl"


def result_prefix(run_id: str) -> str:
    """Where a run's result blobs are kept: ``<run id>/results/``."""
    return f"{run_id}/results/"


def result_key(run_id: str, shard_id: str) -> str:
    """A shard's own result blob. The SQLite ledger leaves it implied in the rows
    settled from it (see :data:`batchport.store._sql.ROW_SELECT`)."""
    return f"{result_prefix(run_id)}{shard_id}{RESULT_SUFFIX}"


def default_home() -> Path:
    """``$BATCHPORT_HOME``, else ``$XDG_DATA_HOME/batchport``, else ``~/.local/share/batchport``."""
    env = os.environ.get("BATCHPORT_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "batchport"


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    created_at: float
    updated_at: float
    backend: str
    provider: str
    fingerprint: str
    state: str
    total_rows: int
    options: str
    error: str | None
    backend_settings: str = "{}"
    source: str | None = None
    #: when the run was paused (workers claim none of its shards); None when it runs
    paused_at: float | None = None


@dataclass(frozen=True, slots=True)
class ShardRecord:
    """One shard. ``model`` is the provider's model (an Azure deployment, say) and
    ``caller_model`` the model the caller asked for; prices and plans use the latter.
    ``checkpoint`` is the backend's JSON scratchpad; ``job`` the terminal job's
    summary (JSON), kept so results are read without asking the provider again."""

    run_id: str
    shard_id: str
    parent_id: str | None
    attempt: int
    endpoint: str
    model: str | None
    caller_model: str | None
    input_key: str
    rows: int
    bytes: int
    est_tokens: int
    content_hash: str
    state: str
    checkpoint: str
    job_id: str | None
    job_status: str | None
    job: str | None
    requeues: int
    cancel_reason: str | None
    last_error: str | None
    updated_at: float
    #: the worker that drives the shard now, since when, and until when its lease holds
    #: unless renewed; all None when no one holds it
    lease_owner: str | None = None
    lease_since: float | None = None
    lease_expires: float | None = None
    #: when an event (a webhook) last said the shard's job changed; the driver polls
    #: the job once when this moves
    woken_at: float | None = None

    @classmethod
    def planned(
        cls,
        run_id: str,
        shard_id: str,
        *,
        endpoint: str,
        model: str | None,
        caller_model: str | None,
        input_key: str,
        rows: int,
        bytes: int,
        est_tokens: int,
        content_hash: str,
        parent_id: str | None = None,
        attempt: int = 1,
    ) -> ShardRecord:
        """A shard written to its blob and not yet sent anywhere."""
        return cls(
            run_id, shard_id, parent_id, attempt, endpoint, model, caller_model, input_key,
            rows, bytes, est_tokens, content_hash, ShardState.PLANNED.value, "{}", None, None,
            None, 0, None, None, 0.0,
        )  # fmt: skip

    def staged(self) -> dict[str, str]:
        """The backend's checkpoint values."""
        data = orjson.loads(self.checkpoint or "{}")
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def job_summary(self) -> Mapping[str, Any] | None:
        return orjson.loads(self.job) if self.job else None


@dataclass(frozen=True, slots=True)
class RowRecord:
    run_id: str
    idx: int
    custom_id: str
    shard_id: str
    pos: int
    attempt: int
    outcome: str | None
    status_code: int | None
    error_code: str | None
    error_message: str | None
    result_key: str | None
    result_offset: int | None
    result_length: int | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    settled_at: float | None
    cache_write_tokens: int
    #: how the row was served: None (or ``"batch"``) for a batch job, ``"realtime"``
    #: or ``"flex"`` for a deadline's realtime fallback
    route: str | None = None


class Settlement(NamedTuple):
    """One row's outcome, in the column order :meth:`RunStore.settle_rows` writes."""

    idx: int
    outcome: str
    status_code: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    result_key: str | None = None
    result_offset: int | None = None
    result_length: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    route: str | None = None


# A pending row packed into one int (see PendingRow.pack): its index, position and
# attempt. A shard's rows wait for their results as one dict of these by custom_id; a
# tuple a row costs about twice the memory, and holding 100,000 tuples at once keeps
# the garbage collector passing over them.
_IDX_BITS, _POS_BITS = 48, 32
_IDX = (1 << _IDX_BITS) - 1
_POS = (1 << _POS_BITS) - 1
_ATTEMPT_AT = _IDX_BITS + _POS_BITS
#: ``packed & PACKED_INDEX_MASK`` is a packed row's index (for a hot loop)
PACKED_INDEX_MASK = _IDX


class PendingRow(NamedTuple):
    idx: int
    custom_id: str
    pos: int
    attempt: int

    @staticmethod
    def pack(idx: int, pos: int, attempt: int) -> int:
        """``idx``, ``pos`` and ``attempt`` as one int (:meth:`unpack` reads it)."""
        return idx | pos << _IDX_BITS | attempt << _ATTEMPT_AT

    @staticmethod
    def unpack(custom_id: str, packed: int) -> PendingRow:
        return PendingRow(
            packed & _IDX, custom_id, packed >> _IDX_BITS & _POS, packed >> _ATTEMPT_AT
        )

    @staticmethod
    def pos_of(packed: int) -> int:
        """The position in its shard of a packed row."""
        return packed >> _IDX_BITS & _POS


@dataclass(frozen=True, slots=True)
class Lease:
    """Who drives a run: one owner at a time. ``owner`` is unique per holder (host, pid
    and a random part); times are unix seconds; the lease is free once ``expires_at``
    has passed without a renewal."""

    run_id: str
    owner: str
    host: str
    pid: int
    acquired_at: float
    renewed_at: float
    expires_at: float


class RunExists(Exception):
    """:meth:`RunStore.create_run` met a run id that is already taken."""


class DuplicateRow(Exception):
    """:meth:`RunStore.add_rows` met a ``custom_id`` already in the run."""


class RunStore(Protocol):
    """What the runner needs from a store. State changes are compare-and-set: pass
    ``expect=`` the state you read, and :class:`~batchport.store.states.IllegalTransition`
    is raised when the move is not in the lifecycle table or the state moved meanwhile.
    Safe to use from several threads; close it when done."""

    blobs: BlobStore
    location: str

    def close(self) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...

    # leases: taking one is a compare-and-set on the current holder
    def get_lease(self, run_id: str) -> Lease | None: ...
    def take_lease(self, lease: Lease, *, replacing: str | None = None, now: float) -> Lease:
        """Record ``lease`` when the run has none, an expired one, one held by
        ``lease.owner`` already, or one held by ``replacing``; else return the holder's
        lease unchanged (the caller compares owners)."""
        ...

    def renew_lease(self, run_id: str, owner: str, expires_at: float, *, now: float) -> bool:
        """Push the expiry out; False when ``owner`` no longer holds the lease."""
        ...

    def release_lease(self, run_id: str, owner: str) -> None: ...

    # shard leases: which worker drives which shard (several workers, one store)
    def claim_shard(
        self,
        run_id: str,
        shard_id: str,
        owner: str,
        *,
        now: float,
        expires: float,
        replacing: str | None = None,
    ) -> bool:
        """Take the shard's lease when it is free, expired, ``owner``'s already, or
        held by ``replacing``; False when someone else holds it."""
        ...

    def claim_next(self, owner: str, *, now: float, expires: float) -> ShardRecord | None:
        """Claim any shard a worker may drive: unfinished, its run running, not paused
        and not held by a single driver (a run lease), its own lease free or expired."""
        ...

    def renew_shard_leases(self, owner: str, *, expires: float) -> set[tuple[str, str]]: ...
    def release_shard(self, run_id: str, shard_id: str, owner: str) -> None: ...
    def leased_shards(self) -> list[ShardRecord]: ...

    # the enqueued-token (or request) quota shared by every worker on the store
    def hold_quota(
        self,
        run_id: str,
        shard_id: str,
        key: str,
        amount: int,
        limit: int | None,
        *,
        now: float,
        force: bool = False,
    ) -> bool: ...
    def release_quota(self, run_id: str, shard_id: str) -> None: ...
    def quota_in_use(self) -> dict[str, int]: ...

    # runs
    def create_run(
        self,
        run_id: str,
        *,
        backend: str,
        provider: str,
        fingerprint: str,
        options: str,
        backend_settings: str = "{}",
        source: str | None = None,
    ) -> RunRecord:
        """Record a new run in ``planning``; ``source`` is its input file, if it has one.
        Raises :class:`RunExists` for a taken id."""
        ...

    def get_run(self, run_id: str) -> RunRecord: ...
    def find_run(self, run_id: str) -> RunRecord | None: ...
    def list_runs(self) -> list[RunRecord]: ...
    def delete_run(self, run_id: str) -> None:
        """Remove the run, its shards, ledger, lease and blobs from the store."""
        ...

    def update_run(self, run_id: str, *, expect: str | None = None, **changes: Any) -> None: ...

    # shards
    def add_shard(self, shard: ShardRecord) -> None: ...
    def update_shard(
        self, run_id: str, shard_id: str, *, expect: str | None = None, **changes: Any
    ) -> ShardRecord: ...
    def get_shard(self, run_id: str, shard_id: str) -> ShardRecord: ...
    def shards(self, run_id: str) -> list[ShardRecord]: ...
    def open_shards(self, run_id: str) -> list[tuple[str, str]]:
        """``(shard_id, state)`` of every shard of the run not yet reconciled or
        abandoned, in the order :meth:`shards` gives: what a driver looks at each time
        a shard ends, without reading every finished shard's record again. (This
        default, for a store that subclasses the protocol, reads them all.)"""
        shards = self.shards(run_id)
        return [(s.shard_id, s.state) for s in shards if not ShardState(s.state).is_final]

    def wake_job(self, job_id: str, at: float) -> list[tuple[str, str]]:
        """An event said job ``job_id`` changed: set ``woken_at`` to ``at`` (unix
        seconds) on every shard whose job it is, and return their (run id, shard id),
        none for a job no shard knows. A Gemini job matches with or without its
        ``batches/`` prefix. Drivers watching the shard poll its job once."""
        ...

    # ledger
    def add_rows(self, run_id: str, rows: Iterable[tuple[int, str, str, int]]) -> None: ...
    def shard_custom_ids(self, run_id: str, shard_id: str) -> set[str]: ...
    def unsettled_of_shard(self, run_id: str, shard_id: str) -> list[PendingRow]: ...

    def unsettled_rows(self, run_id: str, shard_id: str) -> list[tuple[int, str, int, int]]:
        """:meth:`unsettled_of_shard` as plain ``(idx, custom_id, pos, attempt)`` tuples,
        for a caller that keeps something else of them (the collector)."""
        ...

    def unsettled_packed(self, run_id: str, shard_id: str) -> dict[str, int]:
        """The shard's unsettled rows by custom_id, each packed with
        :meth:`PendingRow.pack`: what the collector keys a shard's results by, read
        without a tuple a row held at once."""
        pack = PendingRow.pack
        rows = self.unsettled_rows(run_id, shard_id)
        return {cid: pack(idx, pos, attempt) for idx, cid, pos, attempt in rows}

    def iter_rows(self, run_id: str, *, order: str = "input") -> Iterator[RowRecord]: ...
    def get_row(self, run_id: str, custom_id: str) -> RowRecord: ...
    def first_index_of(self, run_id: str, custom_id: str) -> int | None: ...
    def settle_rows(self, run_id: str, settlements: Iterable[Settlement]) -> int: ...
    def move_rows(self, run_id: str, moves: Iterable[tuple[str, str, int, int]]) -> None: ...
    def outcome_counts(self, run_id: str) -> dict[str | None, int]: ...
    def usage_totals(self, run_id: str) -> tuple[int, int, int, int, int]: ...
    def usage_by_model(
        self, run_id: str
    ) -> dict[tuple[str | None, str | None], tuple[int, int, int, int]]: ...
