"""The shared run store: PostgreSQL through psycopg 3, chosen by a ``postgresql://`` URL.

Everything a run needs lives in one schema of one database (``batchport`` unless the
URL says ``?schema=NAME``): runs, shards, the ledger, leases, and the blobs (shard
inputs and downloaded results, see :mod:`batchport.store.pgblobs`), so any worker on
any host can carry a run on. The store creates its schema and tables itself and
records their version in ``meta``; a newer batchport upgrades an older schema in
place when it opens it, under an advisory lock so that workers starting together
migrate once.

State changes are compare-and-set, written once for both stores in
:mod:`batchport.store._sql`; here the row is locked with
``SELECT ... FOR UPDATE``, the move checked against the lifecycle tables, and the
``UPDATE`` repeats the old state in its ``WHERE``; a second process racing the same
move waits for the first to commit, then reads the new state and loses with
:class:`~batchport.store.states.IllegalTransition`.

One connection serves every thread, guarded by a re-entrant lock that is held for a
whole :meth:`PostgresStore.transaction`: a transaction belongs to a connection, not a
thread, so without the lock another thread's statements would join (or be rolled back
with) someone else's transaction. A pool would buy parallel reads the runner does not
need: a process's writes are short, and several workers are several processes, each
with its own connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from batchport.errors import ConfigError
from batchport.store._sql import LEASE_COLS, ROW_COLS, SETTLE_COLS, SQLStore, as_row
from batchport.store.base import DuplicateRow, Lease, RowRecord, Settlement, ShardRecord
from batchport.store.blobs import BlobStore
from batchport.store.pgblobs import PostgresBlobs
from batchport.store.pgschema import MIGRATIONS, redact, scrub, split_url

__all__ = ["PostgresStore"]

_PAGE = 2000
_SETTLE_TYPES = (
    ("text", "int", "text", "text", "text", "bigint", "bigint") + ("bigint",) * 5 + ("text",)
)


class PostgresStore(SQLStore):
    """A run store in a PostgreSQL database, blobs included.

    ``url`` is a libpq URL (``postgresql://user:password@host:5432/db``), plus an
    optional ``schema=NAME`` parameter (default ``batchport``; created if missing).

    Raises:
        ConfigError: the server cannot be reached, or its schema is newer than this
            batchport knows.
    """

    _MARK = "%s"
    # a racing writer waits on the row lock, then reads the state the first one left
    _LOCK_ROW = " FOR UPDATE"
    _SHARD_ORDER = "seq"
    _TAKEN = psycopg.errors.UniqueViolation

    _db: psycopg.Connection[Any]

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

    # -- plumbing -----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction; a nested use is a savepoint inside the outer one, so an error
        it raises (a duplicate row, say) leaves the outer transaction usable, and
        everything commits once, when the outermost block ends."""
        with self._lock, self._db.transaction():
            yield

    # -- leases --------------------------------------------------------------------
    def take_lease(self, lease: Lease, *, replacing: str | None = None, now: float) -> Lease:
        # one statement: two takers cannot both see the lease free
        values = as_row(lease)
        with self.transaction():
            took = self._db.execute(
                f"INSERT INTO leases ({LEASE_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s) "
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

    def claim_next(self, owner: str, *, now: float, expires: float) -> ShardRecord | None:
        """Claim the first shard a worker may drive (oldest run first, shards in
        order), or None. Rows another worker is claiming are skipped, not waited for
        (``FOR UPDATE SKIP LOCKED``), so workers never queue behind one another."""
        claim = (
            "UPDATE shards s SET lease_owner=%s, lease_since=%s, lease_expires=%s "
            "FROM (SELECT sh.run_id, sh.shard_id FROM shards sh JOIN runs r ON r.id = sh.run_id "
            f"WHERE {self._q(self._claimable())} ORDER BY r.created_at, sh.seq LIMIT 1 "
            "FOR UPDATE OF sh SKIP LOCKED) pick "
            "WHERE s.run_id = pick.run_id AND s.shard_id = pick.shard_id "
            "RETURNING s.run_id, s.shard_id"
        )
        with self.transaction():
            row = self._db.execute(claim, (owner, now, expires, now, now)).fetchone()
        return None if row is None else self.get_shard(row[0], row[1])

    def _lock_quota_key(self, key: str) -> None:
        self._db.execute(
            "SELECT pg_advisory_xact_lock(hashtext('batchport quota'), hashtext(%s))", (key,)
        )

    # -- runs ----------------------------------------------------------------------
    def delete_run(self, run_id: str) -> None:
        with self.transaction():
            self._delete_records(run_id)
            self.blobs.delete_prefix(run_id)  # blobs are rows too: gone in the same commit

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

    def iter_rows(self, run_id: str, *, order: str = "input") -> Iterator[RowRecord]:
        """Every ledger row, in input order (``"input"``) or as settled (``"landed"``),
        fetched in pages (keyset, no cursor held between them) so a million rows never
        sit in memory at once and the connection stays free for other threads."""
        after: tuple[Any, ...]
        if order == "input":
            page, after = f"SELECT {ROW_COLS} FROM rows WHERE run_id=%s AND idx > %s", (-1,)
            page += " ORDER BY idx LIMIT %s"
        else:
            key = "(settled_at IS NULL, COALESCE(settled_at, 0), idx)"
            page = f"SELECT {ROW_COLS} FROM rows WHERE run_id=%s AND {key} > (%s, %s, %s) "
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

    def settle_rows(self, run_id: str, settlements: Iterable[Settlement]) -> int:
        """Record outcomes. A row already settled is left as it is, so replaying a
        reconciliation after a crash never changes or doubles an outcome. Returns the
        number of rows settled now. Sent a page at a time as arrays, one UPDATE each."""
        sets = ", ".join(f"{c}=v.{c}" for c in SETTLE_COLS)
        arrays = ", ".join(f"%s::{t}[]" for t in ("bigint", *_SETTLE_TYPES))
        query = (
            f"UPDATE rows SET {sets}, settled_at=%s "
            f"FROM unnest({arrays}) AS v(idx, {', '.join(SETTLE_COLS)}) "
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
