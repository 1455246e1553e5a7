"""The embedded run store: one SQLite database (stdlib ``sqlite3``, WAL) per home.

Blobs (shard inputs, downloaded results) live beside it under ``<home>/runs/``.
One connection serves every thread, guarded by a lock, so objects handed across the
sync portal (a :class:`~batchport.Run` made on the portal's thread and read in a
notebook's) keep working; :meth:`SQLiteStore.close` closes it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

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
    default_home,
)
from batchport.store.blobs import BlobStore, LocalBlobs
from batchport.store.states import (
    RUN_EDGES,
    SHARD_EDGES,
    IllegalTransition,
    RunState,
    check_move,
)

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    backend TEXT NOT NULL,
    provider TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    total_rows INTEGER NOT NULL DEFAULT 0,
    options TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    backend_settings TEXT NOT NULL DEFAULT '{}',
    source TEXT
);
CREATE TABLE IF NOT EXISTS shards (
    run_id TEXT NOT NULL REFERENCES runs(id),
    shard_id TEXT NOT NULL,
    parent_id TEXT,
    attempt INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT,
    caller_model TEXT,
    input_key TEXT NOT NULL,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    est_tokens INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    checkpoint TEXT NOT NULL DEFAULT '{}',
    job_id TEXT,
    job_status TEXT,
    job TEXT,
    requeues INTEGER NOT NULL DEFAULT 0,
    cancel_reason TEXT,
    last_error TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, shard_id)
);
CREATE TABLE IF NOT EXISTS rows (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    custom_id TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    pos INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    outcome TEXT,
    status_code INTEGER,
    error_code TEXT,
    error_message TEXT,
    result_key TEXT,
    result_offset INTEGER,
    result_length INTEGER,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    settled_at REAL,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS leases (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_at REAL NOT NULL,
    renewed_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rows_custom_id ON rows (run_id, custom_id);
CREATE INDEX IF NOT EXISTS rows_shard ON rows (run_id, shard_id, pos);
"""


# Steps from an older schema to this one, run inside the opening transaction.
_UPGRADES: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE rows ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0",),
}


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


class SQLiteStore:
    """A run store at ``<home>/batchport.sqlite3`` with blobs under ``<home>/runs``."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = Path(home) if home is not None else default_home()
        # prompts and answers live here: only the owner may read them
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = self.home / "batchport.sqlite3"
        if not self.path.exists():  # SQLite gives its WAL files the same mode
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.location = str(self.path)
        self.blobs: BlobStore = LocalBlobs(self.home / "runs")
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, timeout=30.0, check_same_thread=False
        )
        self._closed = False
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def _migrate(self) -> None:
        with self.transaction():
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is not None and int(row[0]) in _UPGRADES:
                for stmt in _UPGRADES[int(row[0])]:
                    self._db.execute(stmt)
                self._db.execute(
                    "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
                )
                row = (str(SCHEMA_VERSION),)
            if row is not None and int(row[0]) != SCHEMA_VERSION:
                older = int(row[0]) < SCHEMA_VERSION
                raise ConfigError(
                    f"run store {self.path} has schema version {row[0]}; this batchport "
                    f"uses {SCHEMA_VERSION}. "
                    + (
                        "Finish its runs with the batchport that made them, or point "
                        "BATCHPORT_HOME at a new directory"
                        if older
                        else "Upgrade batchport"
                    )
                )
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)
            if row is None:
                self._db.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction (``BEGIN IMMEDIATE``); nested uses join the outer one."""
        with self._lock:
            outer = not self._db.in_transaction
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            if outer:
                self._db.execute("COMMIT")

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- leases --------------------------------------------------------------------
    def get_lease(self, run_id: str) -> Lease | None:
        row = self._one(f"SELECT {_LEASE_COLS} FROM leases WHERE run_id=?", (run_id,))
        return None if row is None else Lease(*row)

    def take_lease(self, lease: Lease, *, replacing: str | None = None, now: float) -> Lease:
        with self.transaction():
            held = self.get_lease(lease.run_id)
            free = (
                held is None
                or held.expires_at < now
                or held.owner == lease.owner
                or (replacing is not None and held.owner == replacing)
            )
            if not free:
                assert held is not None
                return held
            self._db.execute(
                f"INSERT OR REPLACE INTO leases ({_LEASE_COLS}) VALUES (?,?,?,?,?,?,?)",
                tuple(getattr(lease, f.name) for f in fields(Lease)),
            )
            return lease

    def renew_lease(self, run_id: str, owner: str, expires_at: float, *, now: float) -> bool:
        with self.transaction():
            cur = self._db.execute(
                "UPDATE leases SET renewed_at=?, expires_at=? WHERE run_id=? AND owner=?",
                (now, expires_at, run_id, owner),
            )
            return cur.rowcount == 1

    def release_lease(self, run_id: str, owner: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM leases WHERE run_id=? AND owner=?", (run_id, owner))

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
        try:
            self._insert_run(row)
        except sqlite3.IntegrityError:
            raise RunExists(run_id) from None
        return self.get_run(run_id)

    def _insert_run(self, row: tuple[Any, ...]) -> None:
        marks = ",".join("?" * len(row))
        with self.transaction():
            self._db.execute(f"INSERT INTO runs ({_RUN_COLS}) VALUES ({marks})", row)

    def get_run(self, run_id: str) -> RunRecord:
        row = self._one(f"SELECT {_RUN_COLS} FROM runs WHERE id=?", (run_id,))
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
                self._db.execute(f"DELETE FROM {table} WHERE {key}=?", (run_id,))
        self.blobs.delete_prefix(run_id)

    def update_run(self, run_id: str, *, expect: str | None = None, **changes: Any) -> None:
        bad = set(changes) - _RUN_MUTABLE
        if bad:
            raise ValueError(f"cannot update run fields {sorted(bad)}")
        with self.transaction():
            self._cas("runs", "id=?", (run_id,), f"run {run_id}", RUN_EDGES, expect, changes)

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
        new = changes.get("state")
        if new is not None:
            row = self._db.execute(f"SELECT state FROM {table} WHERE {where}", key).fetchone()
            if row is None:
                raise KeyError(key)
            old = row[0]
            if expect is not None and old != expect:
                raise IllegalTransition(f"{what} is {old!r}, not {str(expect)!r}")
            if new != old:
                check_move(what, edges, old, str(new))
            where += " AND state=?"
            key = (*key, old)
        sets = ", ".join(f"{k}=?" for k in changes)
        cur = self._db.execute(
            f"UPDATE {table} SET {sets}, updated_at=? WHERE {where}",
            (*changes.values(), time.time(), *key),
        )
        if cur.rowcount != 1:
            raise IllegalTransition(f"{what} changed while being updated")

    # -- shards --------------------------------------------------------------------
    def add_shard(self, shard: ShardRecord) -> None:
        marks = ",".join("?" * len(fields(ShardRecord)))
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
                "run_id=? AND shard_id=?",
                (run_id, shard_id),
                f"shard {run_id}/{shard_id}",
                SHARD_EDGES,
                expect,
                changes,
            )
            return self.get_shard(run_id, shard_id)

    def get_shard(self, run_id: str, shard_id: str) -> ShardRecord:
        row = self._one(
            f"SELECT {_SHARD_COLS} FROM shards WHERE run_id=? AND shard_id=?", (run_id, shard_id)
        )
        if row is None:
            raise KeyError((run_id, shard_id))
        return ShardRecord(*row)

    def shards(self, run_id: str) -> list[ShardRecord]:
        rows = self._all(
            f"SELECT {_SHARD_COLS} FROM shards WHERE run_id=? ORDER BY rowid", (run_id,)
        )
        return [ShardRecord(*r) for r in rows]

    # -- ledger rows -----------------------------------------------------------------
    def add_rows(self, run_id: str, rows: Iterable[tuple[int, str, str, int]]) -> None:
        """Insert ledger rows as ``(idx, custom_id, shard_id, pos)``, unsettled.

        Raises :class:`DuplicateRow` when a custom_id is already in the run."""
        try:
            with self.transaction():
                self._db.executemany(
                    "INSERT INTO rows (run_id, idx, custom_id, shard_id, pos) VALUES (?,?,?,?,?)",
                    ((run_id, *r) for r in rows),
                )
        except sqlite3.IntegrityError as exc:
            raise DuplicateRow(str(exc)) from None

    def shard_custom_ids(self, run_id: str, shard_id: str) -> set[str]:
        rows = self._all(
            "SELECT custom_id FROM rows WHERE run_id=? AND shard_id=?", (run_id, shard_id)
        )
        return {r[0] for r in rows}

    def unsettled_of_shard(self, run_id: str, shard_id: str) -> list[PendingRow]:
        """The shard's rows without an outcome: just what reconciliation needs."""
        rows = self._all(
            "SELECT idx, custom_id, pos, attempt FROM rows "
            "WHERE run_id=? AND shard_id=? AND outcome IS NULL ORDER BY pos",
            (run_id, shard_id),
        )
        return [PendingRow(*r) for r in rows]

    def iter_rows(self, run_id: str, *, order: str = "input") -> Iterator[RowRecord]:
        """Every ledger row, in input order (``"input"``) or as settled (``"landed"``),
        fetched in pages so a million rows never sit in memory at once."""
        by = "idx" if order == "input" else "settled_at IS NULL, settled_at, idx"
        with self._lock:
            cur = self._db.execute(
                f"SELECT {_ROW_COLS} FROM rows WHERE run_id=? ORDER BY {by}", (run_id,)
            )
        try:
            while True:
                with self._lock:
                    batch = cur.fetchmany(2000)
                if not batch:
                    return
                for r in batch:
                    yield RowRecord(*r)
        finally:
            with self._lock:
                cur.close()

    def get_row(self, run_id: str, custom_id: str) -> RowRecord:
        row = self._one(
            f"SELECT {_ROW_COLS} FROM rows WHERE run_id=? AND custom_id=?", (run_id, custom_id)
        )
        if row is None:
            raise KeyError(custom_id)
        return RowRecord(*row)

    def first_index_of(self, run_id: str, custom_id: str) -> int | None:
        row = self._one("SELECT idx FROM rows WHERE run_id=? AND custom_id=?", (run_id, custom_id))
        return None if row is None else int(row[0])

    def settle_rows(self, run_id: str, settlements: Iterable[Settlement]) -> int:
        """Record outcomes. A row already settled is left as it is, so replaying a
        reconciliation after a crash never changes or doubles an outcome. Returns the
        number of rows settled now."""
        sql = (
            "UPDATE rows SET outcome=?, status_code=?, error_code=?, error_message=?, "
            "result_key=?, result_offset=?, result_length=?, input_tokens=?, "
            "output_tokens=?, cached_tokens=?, reasoning_tokens=?, cache_write_tokens=?, "
            "settled_at=? "
            "WHERE run_id=? AND idx=? AND outcome IS NULL"
        )
        now = time.time()
        with self.transaction():
            cur = self._db.executemany(sql, ((*st[1:], now, run_id, st[0]) for st in settlements))
            return cur.rowcount

    def move_rows(self, run_id: str, moves: Iterable[tuple[str, str, int, int]]) -> None:
        """Reassign unsettled rows to a child shard: ``(custom_id, shard_id, pos, attempt)``."""
        with self.transaction():
            self._db.executemany(
                "UPDATE rows SET shard_id=?, pos=?, attempt=? "
                "WHERE run_id=? AND custom_id=? AND outcome IS NULL",
                ((s, p, a, run_id, c) for c, s, p, a in moves),
            )

    def outcome_counts(self, run_id: str) -> dict[str | None, int]:
        rows = self._all(
            "SELECT outcome, COUNT(*) FROM rows WHERE run_id=? GROUP BY outcome", (run_id,)
        )
        return {k: int(v) for k, v in rows}

    def usage_totals(self, run_id: str) -> tuple[int, int, int, int, int]:
        row = self._one(
            "SELECT COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), "
            "COALESCE(SUM(cached_tokens),0), COALESCE(SUM(reasoning_tokens),0), "
            "COALESCE(SUM(cache_write_tokens),0) FROM rows WHERE run_id=?",
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
            "WHERE r.run_id=? GROUP BY s.caller_model, s.model",
            (run_id,),
        )
        return {(m, p): (int(i), int(o), int(c), int(w)) for m, p, i, o, c, w in rows}
