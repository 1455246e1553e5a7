"""The shared run store: PostgreSQL through psycopg 3, chosen by a ``postgresql://`` URL.

Everything a run needs lives in one schema of one database (``batchport`` unless the
URL says ``?schema=NAME``): runs, shards, the ledger, leases, and the blobs (shard
inputs and downloaded results, see :mod:`batchport.store.pgblobs`), so any worker on
any host can carry a run on. The store creates its schema and tables itself and
records their version in ``meta``; a newer batchport upgrades an older schema in
place when it opens it, under an advisory lock so that workers starting together
migrate once.

State changes are compare-and-set as in the SQLite store: the row is locked with
``SELECT ... FOR UPDATE``, the move checked against the lifecycle tables, and the
``UPDATE`` repeats the old state in its ``WHERE``; a second process racing the same
move waits for the first to commit, then reads the new state and loses with
:class:`~batchport.store.states.IllegalTransition`.

One connection serves every thread, guarded by a re-entrant lock that is held for a
whole :meth:`PostgresStore.transaction`: a transaction belongs to a connection, not a
thread, so without the lock another thread's statements would join (or be rolled back
with) someone else's transaction. A pool would buy parallel reads the runner does not
need: one process drives a run and its writes are short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from itertools import islice
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from batchport.errors import ConfigError
from batchport.store.base import (
    DuplicateRow,
    Lease,
    PendingRow,
    RowRecord,
    RunExists,
    RunRecord,
    Settlement,
    ShardRecord,
)
from batchport.store.blobs import BlobStore
from batchport.store.pgblobs import PostgresBlobs
from batchport.store.pgschema import MIGRATIONS, redact, scrub, split_url
from batchport.store.states import (
    RUN_EDGES,
    SHARD_EDGES,
    IllegalTransition,
    RunState,
    check_move,
)

__all__ = ["PostgresStore"]

_PAGE = 2000


def _columns(cls: type[Any]) -> str:
    return ", ".join(f.name for f in fields(cls))


_RUN_COLS = _columns(RunRecord)
_LEASE_COLS = _columns(Lease)
_SHARD_COLS = _columns(ShardRecord)
_ROW_COLS = _columns(RowRecord)
_SHARD_MUTABLE = frozenset(
    f.name for f in fields(ShardRecord) if f.name not in {"run_id", "shard_id", "updated_at"}
)
_RUN_MUTABLE = frozenset({"state", "total_rows", "error", "options", "fingerprint"})
_SETTLE_COLS = Settlement._fields[1:]
_SETTLE_TYPES = ("text", "int", "text", "text", "text", "bigint", "bigint") + ("bigint",) * 5


class PostgresStore:
    """A run store in a PostgreSQL database, blobs included.

    ``url`` is a libpq URL (``postgresql://user:password@host:5432/db``), plus an
    optional ``schema=NAME`` parameter (default ``batchport``; created if missing).

    Raises:
        ConfigError: the server cannot be reached, or its schema is newer than this
            batchport knows.
    """

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        conninfo, self.schema = split_url(url)
        self.location = redact(url)
        try:
            conninfo_to_dict(conninfo)  # a malformed URL fails here, before any network
            self._db = psycopg.connect(
                conninfo, autocommit=True, connect_timeout=max(1, round(connect_timeout))
            )
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot open the run store {self.location}: {scrub(exc, url)}"
            ) from None
        self._lock = threading.RLock()
        self._closed = False
        self._pg_blobs = PostgresBlobs(self._db, self._lock)
        self.blobs: BlobStore = self._pg_blobs
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    def _migrate(self) -> None:
        name = sql.Identifier(self.schema)
        with self.transaction():
            # one migration at a time per schema, whichever worker gets here first
            self._db.execute(
                "SELECT pg_advisory_xact_lock(hashtext('batchport schema'), hashtext(%s))",
                (self.schema,),
            )
            self._db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
            self._db.execute(sql.SQL("SET LOCAL search_path TO {}").format(name))
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row is not None else 0
            if version > len(MIGRATIONS):
                raise ConfigError(
                    f"run store {self.location} (schema {self.schema}) has schema version "
                    f"{version}; this batchport uses {len(MIGRATIONS)}. Upgrade batchport"
                )
            for step in MIGRATIONS[version:]:
                for stmt in step:
                    self._db.execute(stmt)
            self._db.execute(
                "INSERT INTO meta VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(len(MIGRATIONS)),),
            )
        # for the session, now that the schema surely exists
        self._db.execute(sql.SQL("SET search_path TO {}").format(name))
        self._pg_blobs.sweep(time.time())

    @property
    def schema_version(self) -> int:
        row = self._one("SELECT value FROM meta WHERE key='schema_version'", ())
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction; a nested use is a savepoint inside the outer one, so an error
        it raises (a duplicate row, say) leaves the outer transaction usable, and
        everything commits once, when the outermost block ends."""
        with self._lock, self._db.transaction():
            yield

    def _one(self, query: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._db.execute(query, args).fetchone()

    def _all(self, query: str, args: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            return self._db.execute(query, args).fetchall()

    # -- leases --------------------------------------------------------------------
    def get_lease(self, run_id: str) -> Lease | None:
        row = self._one(f"SELECT {_LEASE_COLS} FROM leases WHERE run_id=%s", (run_id,))
        return None if row is None else Lease(*row)

    def take_lease(self, lease: Lease, *, replacing: str | None = None, now: float) -> Lease:
        # one statement: two takers cannot both see the lease free
        values = tuple(getattr(lease, f.name) for f in fields(Lease))
        with self.transaction():
            took = self._db.execute(
                f"INSERT INTO leases ({_LEASE_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s) "
                "ON CONFLICT (run_id) DO UPDATE SET owner=EXCLUDED.owner, host=EXCLUDED.host, "
                "pid=EXCLUDED.pid, acquired_at=EXCLUDED.acquired_at, "
                "renewed_at=EXCLUDED.renewed_at, expires_at=EXCLUDED.expires_at "
                "WHERE leases.expires_at < %s OR leases.owner = %s OR leases.owner = %s "
                "RETURNING run_id",
                (*values, now, lease.owner, replacing),
            ).fetchone()
            if took is not None:
                return lease
            held = self.get_lease(lease.run_id)
        assert held is not None
        return held

    def renew_lease(self, run_id: str, owner: str, expires_at: float, *, now: float) -> bool:
        with self.transaction():
            cur = self._db.execute(
                "UPDATE leases SET renewed_at=%s, expires_at=%s WHERE run_id=%s AND owner=%s",
                (now, expires_at, run_id, owner),
            )
            return cur.rowcount == 1

    def release_lease(self, run_id: str, owner: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM leases WHERE run_id=%s AND owner=%s", (run_id, owner))

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
               options, None, backend_settings, source)  # fmt: skip
        marks = ",".join(["%s"] * len(row))
        try:
            with self.transaction():
                self._db.execute(f"INSERT INTO runs ({_RUN_COLS}) VALUES ({marks})", row)
        except psycopg.errors.UniqueViolation:
            raise RunExists(run_id) from None
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        row = self._one(f"SELECT {_RUN_COLS} FROM runs WHERE id=%s", (run_id,))
        if row is None:
            raise KeyError(run_id)
        return RunRecord(*row)

    def find_run(self, run_id: str) -> RunRecord | None:
        try:
            return self.get_run(run_id)
        except KeyError:
            return None

    def list_runs(self) -> list[RunRecord]:
        rows = self._all(f"SELECT {_RUN_COLS} FROM runs ORDER BY created_at DESC", ())
        return [RunRecord(*r) for r in rows]

    def delete_run(self, run_id: str) -> None:
        with self.transaction():
            for table, key in (("rows", "run_id"), ("shards", "run_id"), ("leases", "run_id"),
                               ("runs", "id")):  # fmt: skip
                self._db.execute(f"DELETE FROM {table} WHERE {key}=%s", (run_id,))
            self.blobs.delete_prefix(run_id)

    def update_run(self, run_id: str, *, expect: str | None = None, **changes: Any) -> None:
        bad = set(changes) - _RUN_MUTABLE
        if bad:
            raise ValueError(f"cannot update run fields {sorted(bad)}")
        with self.transaction():
            self._cas("runs", "id=%s", (run_id,), f"run {run_id}", RUN_EDGES, expect, changes)

    def _cas(
        self,
        table: str,
        where: str,
        key: tuple[Any, ...],
        what: str,
        edges: Any,
        expect: str | None,
        changes: dict[str, Any],
    ) -> None:
        # table and column names come from this module's fixed sets, never from callers
        new = changes.get("state")
        if new is not None:
            row = self._db.execute(
                f"SELECT state FROM {table} WHERE {where} FOR UPDATE", key
            ).fetchone()
            if row is None:
                raise KeyError(key)
            old = row[0]
            if expect is not None and old != expect:
                raise IllegalTransition(f"{what} is {old!r}, not {str(expect)!r}")
            if new != old:
                check_move(what, edges, old, str(new))
            where += " AND state=%s"
            key = (*key, old)
        sets = ", ".join(f"{k}=%s" for k in changes)
        cur = self._db.execute(
            f"UPDATE {table} SET {sets}, updated_at=%s WHERE {where}",
            (*changes.values(), time.time(), *key),
        )
        if cur.rowcount != 1:
            raise IllegalTransition(f"{what} changed while being updated")

    # -- shards --------------------------------------------------------------------
    def add_shard(self, shard: ShardRecord) -> None:
        marks = ",".join(["%s"] * len(fields(ShardRecord)))
        values = tuple(getattr(shard, f.name) for f in fields(ShardRecord))
        with self.transaction():
            self._db.execute(f"INSERT INTO shards ({_SHARD_COLS}) VALUES ({marks})", values)

    def update_shard(
        self, run_id: str, shard_id: str, *, expect: str | None = None, **changes: Any
    ) -> ShardRecord:
        bad = set(changes) - _SHARD_MUTABLE
        if bad:
            raise ValueError(f"cannot update shard fields {sorted(bad)}")
        with self.transaction():
            self._cas(
                "shards",
                "run_id=%s AND shard_id=%s",
                (run_id, shard_id),
                f"shard {run_id}/{shard_id}",
                SHARD_EDGES,
                expect,
                changes,
            )
            return self.get_shard(run_id, shard_id)

    def get_shard(self, run_id: str, shard_id: str) -> ShardRecord:
        row = self._one(
            f"SELECT {_SHARD_COLS} FROM shards WHERE run_id=%s AND shard_id=%s",
            (run_id, shard_id),
        )
        if row is None:
            raise KeyError((run_id, shard_id))
        return ShardRecord(*row)

    def shards(self, run_id: str) -> list[ShardRecord]:
        rows = self._all(
            f"SELECT {_SHARD_COLS} FROM shards WHERE run_id=%s ORDER BY seq", (run_id,)
        )
        return [ShardRecord(*r) for r in rows]

    # -- ledger rows -----------------------------------------------------------------
    def add_rows(self, run_id: str, rows: Iterable[tuple[int, str, str, int]]) -> None:
        """Insert ledger rows as ``(idx, custom_id, shard_id, pos)``, unsettled (by COPY).

        Raises :class:`DuplicateRow` when a custom_id is already in the run; then none
        of ``rows`` is recorded."""
        try:
            with self.transaction(), self._db.cursor() as cur:
                copy_sql = "COPY rows (run_id, idx, custom_id, shard_id, pos) FROM STDIN"
                with cur.copy(copy_sql) as copy:
                    for r in rows:
                        copy.write_row((run_id, *r))
        except psycopg.errors.UniqueViolation as exc:
            detail = exc.diag.message_detail or str(exc)
            raise DuplicateRow(detail) from None

    def shard_custom_ids(self, run_id: str, shard_id: str) -> set[str]:
        rows = self._all(
            "SELECT custom_id FROM rows WHERE run_id=%s AND shard_id=%s", (run_id, shard_id)
        )
        return {r[0] for r in rows}

    def unsettled_of_shard(self, run_id: str, shard_id: str) -> list[PendingRow]:
        """The shard's rows without an outcome: just what reconciliation needs."""
        rows = self._all(
            "SELECT idx, custom_id, pos, attempt FROM rows "
            "WHERE run_id=%s AND shard_id=%s AND outcome IS NULL ORDER BY pos",
            (run_id, shard_id),
        )
        return [PendingRow(*r) for r in rows]

    def iter_rows(self, run_id: str, *, order: str = "input") -> Iterator[RowRecord]:
        """Every ledger row, in input order (``"input"``) or as settled (``"landed"``),
        fetched in pages (keyset, no cursor held between them) so a million rows never
        sit in memory at once and the connection stays free for other threads."""
        after: tuple[Any, ...]
        if order == "input":
            page, after = f"SELECT {_ROW_COLS} FROM rows WHERE run_id=%s AND idx > %s", (-1,)
            page += " ORDER BY idx LIMIT %s"
        else:
            key = "(settled_at IS NULL, COALESCE(settled_at, 0), idx)"
            page = f"SELECT {_ROW_COLS} FROM rows WHERE run_id=%s AND {key} > (%s, %s, %s) "
            page += "ORDER BY settled_at IS NULL, COALESCE(settled_at, 0), idx LIMIT %s"
            after = (False, float("-inf"), -1)
        while True:
            batch = self._all(page, (run_id, *after, _PAGE))
            for r in batch:
                yield RowRecord(*r)
            if len(batch) < _PAGE:
                return
            last = RowRecord(*batch[-1])
            if order == "input":
                after = (last.idx,)
            else:
                s = last.settled_at
                after = (s is None, 0.0 if s is None else s, last.idx)

    def get_row(self, run_id: str, custom_id: str) -> RowRecord:
        row = self._one(
            f"SELECT {_ROW_COLS} FROM rows WHERE run_id=%s AND custom_id=%s", (run_id, custom_id)
        )
        if row is None:
            raise KeyError(custom_id)
        return RowRecord(*row)

    def first_index_of(self, run_id: str, custom_id: str) -> int | None:
        row = self._one(
            "SELECT idx FROM rows WHERE run_id=%s AND custom_id=%s", (run_id, custom_id)
        )
        return None if row is None else int(row[0])

    def settle_rows(self, run_id: str, settlements: Iterable[Settlement]) -> int:
        """Record outcomes. A row already settled is left as it is, so replaying a
        reconciliation after a crash never changes or doubles an outcome. Returns the
        number of rows settled now. Sent a page at a time as arrays, one UPDATE each."""
        sets = ", ".join(f"{c}=v.{c}" for c in _SETTLE_COLS)
        arrays = ", ".join(f"%s::{t}[]" for t in ("bigint", *_SETTLE_TYPES))
        query = (
            f"UPDATE rows SET {sets}, settled_at=%s "
            f"FROM unnest({arrays}) AS v(idx, {', '.join(_SETTLE_COLS)}) "
            "WHERE rows.run_id=%s AND rows.idx=v.idx AND rows.outcome IS NULL"
        )
        now, n = time.time(), 0
        it = iter(settlements)
        with self.transaction():
            while page := list(islice(it, _PAGE)):
                first: dict[int, Settlement] = {}
                for st in page:  # the first outcome given for a row wins, as in a loop
                    first.setdefault(st.idx, st)
                columns = [list(c) for c in zip(*first.values(), strict=True)]
                n += self._db.execute(query, (now, *columns, run_id)).rowcount
        return n

    def move_rows(self, run_id: str, moves: Iterable[tuple[str, str, int, int]]) -> None:
        """Reassign unsettled rows to a child shard: ``(custom_id, shard_id, pos, attempt)``."""
        query = (
            "UPDATE rows SET shard_id=v.shard_id, pos=v.pos, attempt=v.attempt "
            "FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::int[]) "
            "AS v(custom_id, shard_id, pos, attempt) "
            "WHERE rows.run_id=%s AND rows.custom_id=v.custom_id AND rows.outcome IS NULL"
        )
        it = iter(moves)
        with self.transaction():
            while page := list(islice(it, _PAGE)):
                last = {m[0]: m for m in page}  # a row moved twice ends where it went last
                columns = [list(c) for c in zip(*last.values(), strict=True)]
                self._db.execute(query, (*columns, run_id))

    def outcome_counts(self, run_id: str) -> dict[str | None, int]:
        rows = self._all(
            "SELECT outcome, COUNT(*) FROM rows WHERE run_id=%s GROUP BY outcome", (run_id,)
        )
        return {k: int(v) for k, v in rows}

    def usage_totals(self, run_id: str) -> tuple[int, int, int, int, int]:
        row = self._one(
            "SELECT COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), "
            "COALESCE(SUM(cached_tokens),0), COALESCE(SUM(reasoning_tokens),0), "
            "COALESCE(SUM(cache_write_tokens),0) FROM rows WHERE run_id=%s",
            (run_id,),
        )
        return int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4])

    def usage_by_model(
        self, run_id: str
    ) -> dict[tuple[str | None, str | None], tuple[int, int, int, int]]:
        """(input, output, cached, cache-write) tokens per (caller model, provider
        model), summed in the database."""
        rows = self._all(
            "SELECT s.caller_model, s.model, COALESCE(SUM(r.input_tokens),0), "
            "COALESCE(SUM(r.output_tokens),0), COALESCE(SUM(r.cached_tokens),0), "
            "COALESCE(SUM(r.cache_write_tokens),0) "
            "FROM rows r JOIN shards s ON s.run_id = r.run_id AND s.shard_id = r.shard_id "
            "WHERE r.run_id=%s GROUP BY s.caller_model, s.model",
            (run_id,),
        )
        return {(m, p): (int(i), int(o), int(c), int(w)) for m, p, i, o, c, w in rows}
