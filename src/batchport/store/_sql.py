"""What the SQLite and PostgreSQL run stores have in common, written once.

:class:`SQLStore` holds the record mapping (column lists, the fields a caller may
change), the compare-and-set state changes, and every statement the two dialects
spell alike but for their parameter mark. A store subclasses it and brings its own
connection, :meth:`~SQLStore.transaction`, schema, and the statements where the
databases really differ (taking a lease, bulk inserts and updates, paging).

Statements here are written with ``?`` for each parameter and contain no other
``?``; :meth:`SQLStore._q` turns them into the store's dialect (``%s`` for psycopg).
Table and column names in them come from this module's fixed sets, never from
callers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from functools import partial
from typing import Any, ClassVar, Protocol, Self

from batchport.store.base import (
    RESULT_SUFFIX,
    Lease,
    PendingRow,
    RowRecord,
    RunExists,
    RunRecord,
    Settlement,
    ShardRecord,
    result_prefix,
)
from batchport.store.blobs import BlobStore
from batchport.store.states import (
    RUN_EDGES,
    SHARD_EDGES,
    IllegalTransition,
    RunState,
    check_move,
)

__all__ = [
    "LEASE_COLS",
    "ROW_COLS",
    "ROW_SELECT",
    "RUN_COLS",
    "SETTLE_COLS",
    "SHARD_COLS",
    "SQLStore",
    "as_row",
]


def _columns(cls: type[Any]) -> str:
    return ", ".join(f.name for f in fields(cls))


RUN_COLS = _columns(RunRecord)
LEASE_COLS = _columns(Lease)
SHARD_COLS = _columns(ShardRecord)
ROW_COLS = _columns(RowRecord)
#: what a ledger read selects: every :class:`RowRecord` column after ``run_id`` (the
#: caller knows the run), the result key spelled out when the store left it implied.
#: One parameter: the run's result prefix (``<run id>/results/``).
ROW_SELECT = ROW_COLS.removeprefix("run_id, ").replace(
    "result_key",
    "COALESCE(result_key, CASE WHEN result_offset IS NOT NULL "
    f"THEN ? || shard_id || '{RESULT_SUFFIX}' END)",
)
#: the columns :meth:`SQLStore.settle_rows` writes, in :class:`Settlement` order after idx
SETTLE_COLS = Settlement._fields[1:]


#: a fetched ``(idx, custom_id, pos, attempt)`` as a :class:`PendingRow`, without a
#: Python call per row
_pending_row = partial(tuple.__new__, PendingRow)


def as_row(record: Any) -> tuple[Any, ...]:
    """A record dataclass's values in column order."""
    return tuple(getattr(record, f.name) for f in fields(record))


@dataclass(frozen=True, slots=True)
class _Table:
    """A table whose rows move through a lifecycle: how to name one row, what may change."""

    name: str
    key: tuple[str, ...]
    kind: str
    mutable: frozenset[str]
    edges: Mapping[Any, frozenset[Any]]

    def check(self, changes: Mapping[str, Any]) -> None:
        bad = set(changes) - self.mutable
        if bad:
            raise ValueError(f"cannot update {self.kind} fields {sorted(bad)}")


_RUNS = _Table(
    "runs", ("id",), "run",
    frozenset({"state", "total_rows", "error", "options", "fingerprint", "paused_at"}), RUN_EDGES,
)  # fmt: skip
_SHARDS = _Table(
    "shards", ("run_id", "shard_id"), "shard",
    frozenset(f.name for f in fields(ShardRecord)) - {"run_id", "shard_id", "updated_at"},
    SHARD_EDGES,
)  # fmt: skip


def _job_ids(job_id: str) -> tuple[str, ...]:
    """The spellings a job is recorded under. Gemini's events and API name a batch
    ``batches/x``; a shard holding the bare name ``x`` is the same job."""
    bare = job_id.removeprefix("batches/")
    return (job_id, bare) if bare and bare != job_id else (job_id,)


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class _Connection(Protocol):
    def execute(self, sql: str, args: tuple[Any, ...], /) -> _Cursor: ...
    def close(self) -> None: ...


class SQLStore:
    """The dialect-neutral half of a SQL run store.

    A subclass sets ``_db`` (its connection), ``_lock`` (held around every statement
    and for a whole transaction), ``blobs`` and ``location``, implements
    :meth:`transaction`, and fills in the class attributes below.
    """

    #: the dialect's parameter mark
    _MARK: ClassVar[str]
    #: appended to the SELECT that reads a row's state before a compare-and-set, so
    #: that the row stays put until the transaction ends
    _LOCK_ROW: ClassVar[str]
    #: the column that keeps shards in the order they were added
    _SHARD_ORDER: ClassVar[str]
    #: what the driver raises when an insert meets a taken primary key
    _TAKEN: ClassVar[type[Exception]]
    #: the ``rows`` column naming the run, holding what :meth:`_row_key` gives
    _ROW_RUN: ClassVar[str] = "run_id"
    #: how a ledger read spells a row's outcome (the column, or what decodes it)
    _OUTCOME: ClassVar[str] = "outcome"
    #: what a ledger read selects (see :data:`ROW_SELECT`)
    _ROW_SELECT: ClassVar[str] = ROW_SELECT

    _db: _Connection
    _lock: threading.RLock
    _closed: bool
    blobs: BlobStore
    location: str

    def transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------
    def _q(self, sql: str) -> str:
        return sql if self._MARK == "?" else sql.replace("?", self._MARK)

    def _row_key(self, run_id: str) -> Any:
        """What the ``rows`` table holds for the run (see :attr:`_ROW_RUN`): the run id
        itself, unless the store keys its rows more compactly."""
        return run_id

    def _row(self, run_id: str, values: tuple[Any, ...]) -> RowRecord:
        """A ledger row read with :data:`ROW_SELECT`."""
        return RowRecord(run_id, *values)

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple[Any, ...]) -> int:
        """Run one statement; how many rows it changed."""
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def _compare_and_set(
        self, table: _Table, key: tuple[str, ...], expect: str | None, changes: dict[str, Any]
    ) -> None:
        """Apply ``changes`` to one row, inside the caller's transaction. A change of
        ``state`` reads the row (locked as the dialect can), checks ``expect`` and the
        move against the lifecycle, and updates only while the state is still the one
        read; any other outcome raises :class:`IllegalTransition` (or ``KeyError``)."""
        what = f"{table.kind} {'/'.join(key)}"
        where = " AND ".join(f"{col}=?" for col in table.key)
        args: tuple[Any, ...] = key
        new = changes.get("state")
        if new is not None:
            select = f"SELECT state FROM {table.name} WHERE {where}{self._LOCK_ROW}"
            row = self._one(self._q(select), args)
            if row is None:
                raise KeyError(key)
            old = row[0]
            if expect is not None and old != expect:
                raise IllegalTransition(f"{what} is {old!r}, not {str(expect)!r}")
            if new != old:
                check_move(what, table.edges, old, str(new))
            where += " AND state=?"
            args = (*args, old)
        sets = ", ".join(f"{col}=?" for col in changes)
        update = f"UPDATE {table.name} SET {sets}, updated_at=? WHERE {where}"
        if self._run(self._q(update), (*changes.values(), time.time(), *args)) != 1:
            raise IllegalTransition(f"{what} changed while being updated")

    # -- leases --------------------------------------------------------------------
    def get_lease(self, run_id: str) -> Lease | None:
        row = self._one(self._q(f"SELECT {LEASE_COLS} FROM leases WHERE run_id=?"), (run_id,))
        return None if row is None else Lease(*row)

    def renew_lease(self, run_id: str, owner: str, expires_at: float, *, now: float) -> bool:
        update = "UPDATE leases SET renewed_at=?, expires_at=? WHERE run_id=? AND owner=?"
        with self.transaction():
            return self._run(self._q(update), (now, expires_at, run_id, owner)) == 1

    def release_lease(self, run_id: str, owner: str) -> None:
        with self.transaction():
            self._run(self._q("DELETE FROM leases WHERE run_id=? AND owner=?"), (run_id, owner))

    # -- shard leases -------------------------------------------------------------
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
        """Take the shard's lease for ``owner`` when it is free, expired, already
        ``owner``'s, or held by ``replacing`` (a holder known to be gone). One UPDATE:
        of two racing claims, one wins."""
        update = (
            "UPDATE shards SET lease_since = CASE WHEN lease_owner=? THEN lease_since ELSE ? END, "
            "lease_owner=?, lease_expires=? WHERE run_id=? AND shard_id=? AND "
            "(lease_owner IS NULL OR lease_owner=? OR lease_expires<? OR lease_owner=?)"
        )
        args = (owner, now, owner, expires, run_id, shard_id, owner, now, replacing or owner)
        with self.transaction():
            return self._run(self._q(update), args) == 1

    def renew_shard_leases(self, owner: str, *, expires: float) -> set[tuple[str, str]]:
        """Push out every lease ``owner`` holds; the (run, shard) keys it still holds."""
        with self.transaction():
            self._run(self._q("UPDATE shards SET lease_expires=? WHERE lease_owner=?"),
                      (expires, owner))  # fmt: skip
            rows = self._all(
                self._q("SELECT run_id, shard_id FROM shards WHERE lease_owner=?"), (owner,)
            )
        return {(r[0], r[1]) for r in rows}

    def release_shard(self, run_id: str, shard_id: str, owner: str) -> None:
        """Give the shard's lease up, if ``owner`` still holds it."""
        update = (
            "UPDATE shards SET lease_owner=NULL, lease_since=NULL, lease_expires=NULL "
            "WHERE run_id=? AND shard_id=? AND lease_owner=?"
        )
        with self.transaction():
            self._run(self._q(update), (run_id, shard_id, owner))

    def leased_shards(self) -> list[ShardRecord]:
        """Every unfinished shard of any run whose lease someone holds (or held)."""
        select = (
            f"SELECT {SHARD_COLS} FROM shards WHERE lease_owner IS NOT NULL "
            "AND state NOT IN ('reconciled', 'abandoned')"
        )
        return [ShardRecord(*r) for r in self._all(select, ())]

    def _claimable(self) -> str:
        """The WHERE clause (over ``sh`` and ``r``; parameters: now, now) of a shard a
        worker may claim: unfinished, of a running, unpaused run that no single driver
        holds, and with no live lease."""
        return (
            "r.state IN ('running', 'cancelling') AND r.paused_at IS NULL "
            "AND sh.state NOT IN ('reconciled', 'abandoned') "
            "AND (sh.lease_owner IS NULL OR sh.lease_expires < ?) "
            "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.run_id = sh.run_id "
            "AND l.expires_at >= ?)"
        )

    # -- shared quota ------------------------------------------------------------------
    def _lock_quota_key(self, key: str) -> None:
        """Serialize quota decisions on ``key`` until the transaction ends."""

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
    ) -> bool:
        """Count ``amount`` against ``key`` for the shard, if it fits under ``limit``
        beside what every other shard in flight (``submitting`` or ``submitted``, in
        any run, by any worker) holds; a shard alone may exceed it. ``force`` counts it
        whatever the limit (a job already at the provider). False: it does not fit."""
        used_sql = (
            "SELECT COALESCE(SUM(q.amount), 0) FROM quota q JOIN shards s "
            "ON s.run_id = q.run_id AND s.shard_id = q.shard_id "
            "WHERE q.key=? AND s.state IN ('submitting', 'submitted') "
            "AND NOT (q.run_id=? AND q.shard_id=?)"
        )
        with self.transaction():
            self._lock_quota_key(key)
            used = int(self._one(self._q(used_sql), (key, run_id, shard_id))[0])
            if not force and limit is not None and used > 0 and used + amount > limit:
                return False
            self._run(self._q("DELETE FROM quota WHERE run_id=? AND shard_id=?"),
                      (run_id, shard_id))  # fmt: skip
            self._run(
                self._q("INSERT INTO quota (run_id, shard_id, key, amount, taken_at) "
                        "VALUES (?,?,?,?,?)"),
                (run_id, shard_id, key, amount, now),
            )  # fmt: skip
        return True

    def release_quota(self, run_id: str, shard_id: str) -> None:
        with self.transaction():
            self._run(self._q("DELETE FROM quota WHERE run_id=? AND shard_id=?"),
                      (run_id, shard_id))  # fmt: skip

    def quota_in_use(self) -> dict[str, int]:
        """What the shards in flight hold, per quota key, across every run."""
        rows = self._all(
            "SELECT q.key, SUM(q.amount) FROM quota q JOIN shards s "
            "ON s.run_id = q.run_id AND s.shard_id = q.shard_id "
            "WHERE s.state IN ('submitting', 'submitted') GROUP BY q.key",
            (),
        )
        return {str(k): int(v) for k, v in rows}

    # -- runs ----------------------------------------------------------------------
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
        now = time.time()
        row = (run_id, now, now, backend, provider, fingerprint, RunState.PLANNING.value, 0,
               options, None, backend_settings, source, None)  # fmt: skip
        insert = f"INSERT INTO runs ({RUN_COLS}) VALUES ({','.join('?' * len(row))})"
        try:
            with self.transaction():
                self._run(self._q(insert), row)
        except self._TAKEN:
            raise RunExists(run_id) from None
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        row = self._one(self._q(f"SELECT {RUN_COLS} FROM runs WHERE id=?"), (run_id,))
        if row is None:
            raise KeyError(run_id)
        return RunRecord(*row)

    def find_run(self, run_id: str) -> RunRecord | None:
        try:
            return self.get_run(run_id)
        except KeyError:
            return None

    def list_runs(self) -> list[RunRecord]:
        rows = self._all(f"SELECT {RUN_COLS} FROM runs ORDER BY created_at DESC", ())
        return [RunRecord(*r) for r in rows]

    def _delete_records(self, run_id: str) -> None:
        """Delete the run's rows, shards, quota holds, lease and run row, inside a
        transaction."""
        rows_where = f"{self._ROW_RUN}=?"
        self._run(self._q(f"DELETE FROM rows WHERE {rows_where}"), (self._row_key(run_id),))
        for table, key in (("quota", "run_id"), ("shards", "run_id"), ("leases", "run_id"),
                           ("runs", "id")):  # fmt: skip
            self._run(self._q(f"DELETE FROM {table} WHERE {key}=?"), (run_id,))

    def update_run(self, run_id: str, *, expect: str | None = None, **changes: Any) -> None:
        _RUNS.check(changes)
        with self.transaction():
            self._compare_and_set(_RUNS, (run_id,), expect, changes)

    # -- shards --------------------------------------------------------------------
    def add_shard(self, shard: ShardRecord) -> None:
        values = as_row(shard)
        insert = f"INSERT INTO shards ({SHARD_COLS}) VALUES ({','.join('?' * len(values))})"
        with self.transaction():
            self._run(self._q(insert), values)

    def update_shard(
        self, run_id: str, shard_id: str, *, expect: str | None = None, **changes: Any
    ) -> ShardRecord:
        _SHARDS.check(changes)
        with self.transaction():
            self._compare_and_set(_SHARDS, (run_id, shard_id), expect, changes)
            return self.get_shard(run_id, shard_id)

    def get_shard(self, run_id: str, shard_id: str) -> ShardRecord:
        select = f"SELECT {SHARD_COLS} FROM shards WHERE run_id=? AND shard_id=?"
        row = self._one(self._q(select), (run_id, shard_id))
        if row is None:
            raise KeyError((run_id, shard_id))
        return ShardRecord(*row)

    def shards(self, run_id: str) -> list[ShardRecord]:
        select = f"SELECT {SHARD_COLS} FROM shards WHERE run_id=? ORDER BY {self._SHARD_ORDER}"
        return [ShardRecord(*r) for r in self._all(self._q(select), (run_id,))]

    def open_shards(self, run_id: str) -> list[tuple[str, str]]:
        select = (  # the condition of the partial index shards_open, word for word
            "SELECT shard_id, state FROM shards WHERE run_id=? AND "
            f"state NOT IN ('reconciled', 'abandoned') ORDER BY {self._SHARD_ORDER}"
        )
        return [(str(i), str(s)) for i, s in self._all(self._q(select), (run_id,))]

    def wake_job(self, job_id: str, at: float) -> list[tuple[str, str]]:
        ids = _job_ids(job_id)
        where = f"job_id IN ({','.join('?' * len(ids))})"
        with self.transaction():
            found = self._all(self._q(f"SELECT run_id, shard_id FROM shards WHERE {where}"), ids)
            if found:
                self._run(self._q(f"UPDATE shards SET woken_at=? WHERE {where}"), (at, *ids))
        return sorted((str(run_id), str(shard_id)) for run_id, shard_id in found)

    # -- ledger rows -----------------------------------------------------------------
    def shard_custom_ids(self, run_id: str, shard_id: str) -> set[str]:
        select = f"SELECT custom_id FROM rows WHERE {self._ROW_RUN}=? AND shard_id=?"
        return {r[0] for r in self._all(self._q(select), (self._row_key(run_id), shard_id))}

    def unsettled_of_shard(self, run_id: str, shard_id: str) -> list[PendingRow]:
        """The shard's rows without an outcome: just what reconciliation needs."""
        rows = self.unsettled_rows(run_id, shard_id)
        return list(map(_pending_row, rows))  # made in C: a shard holds 100,000 rows

    def unsettled_rows(self, run_id: str, shard_id: str) -> list[tuple[int, str, int, int]]:
        """:meth:`unsettled_of_shard` as the plain tuples the driver fetched. Plain
        tuples of strings and ints leave the garbage collector's view at its next
        pass; a tuple subclass such as PendingRow stays in it, so 100,000 of them held
        for a moment push the collector into a full pass over the whole heap."""
        return self._all(self._unsettled(), (self._row_key(run_id), shard_id))

    def unsettled_packed(self, run_id: str, shard_id: str) -> dict[str, int]:
        """See :meth:`RunStore.unsettled_packed`: each row's tuple is dropped as soon
        as it is packed, so none waits for the garbage collector."""
        pack = PendingRow.pack
        with self._lock:
            rows = self._db.execute(self._unsettled(), (self._row_key(run_id), shard_id))
            return {cid: pack(idx, pos, attempt) for idx, cid, pos, attempt in rows}

    def _unsettled(self) -> str:
        # ORDER BY pos has the planner read the shard's index, not all the run's rows
        return self._q(
            "SELECT idx, custom_id, pos, attempt FROM rows "
            f"WHERE {self._ROW_RUN}=? AND shard_id=? AND outcome IS NULL ORDER BY pos"
        )

    def get_row(self, run_id: str, custom_id: str) -> RowRecord:
        select = f"SELECT {self._ROW_SELECT} FROM rows WHERE {self._ROW_RUN}=? AND custom_id=?"
        args = (result_prefix(run_id), self._row_key(run_id), custom_id)
        row = self._one(self._q(select), args)
        if row is None:
            raise KeyError(custom_id)
        return self._row(run_id, row)

    def first_index_of(self, run_id: str, custom_id: str) -> int | None:
        select = f"SELECT idx FROM rows WHERE {self._ROW_RUN}=? AND custom_id=?"
        row = self._one(self._q(select), (self._row_key(run_id), custom_id))
        return None if row is None else int(row[0])

    def outcome_counts(self, run_id: str) -> dict[str | None, int]:
        select = (
            f"SELECT {self._OUTCOME}, COUNT(*) FROM rows WHERE {self._ROW_RUN}=? GROUP BY outcome"
        )
        return {k: int(v) for k, v in self._all(self._q(select), (self._row_key(run_id),))}

    def usage_totals(self, run_id: str) -> tuple[int, int, int, int, int]:
        row = self._one(
            self._q(
                "SELECT COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), "
                "COALESCE(SUM(cached_tokens),0), COALESCE(SUM(reasoning_tokens),0), "
                f"COALESCE(SUM(cache_write_tokens),0) FROM rows WHERE {self._ROW_RUN}=?"
            ),
            (self._row_key(run_id),),
        )
        return int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4])

    def usage_by_model(
        self, run_id: str
    ) -> dict[tuple[str | None, str | None], tuple[int, int, int, int]]:
        """(input, output, cached, cache-write) tokens per (caller model, provider
        model), summed in the database."""
        rows = self._all(
            self._q(
                "SELECT s.caller_model, s.model, COALESCE(SUM(r.input_tokens),0), "
                "COALESCE(SUM(r.output_tokens),0), COALESCE(SUM(r.cached_tokens),0), "
                "COALESCE(SUM(r.cache_write_tokens),0) "
                "FROM rows r JOIN shards s ON s.run_id = ? AND s.shard_id = r.shard_id "
                f"WHERE r.{self._ROW_RUN}=? GROUP BY s.caller_model, s.model"
            ),
            (run_id, self._row_key(run_id)),
        )
        return {(m, p): (int(i), int(o), int(c), int(w)) for m, p, i, o, c, w in rows}
