"""The run store: one SQLite database (stdlib ``sqlite3``, WAL) per batchport home.

It holds runs, their shards and the ledger (one row per input request), so that a
killed process can resume without losing a finished row or submitting a shard twice.
Downloaded result files live beside it under ``<home>/runs/<run_id>/``.

Durability rule: every state change that precedes a remote call (an *intent*: "about
to upload", "about to create") is committed before the call is made, and the remote
id is committed as soon as the call returns. Every method here commits before it
returns; nothing is buffered in memory.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

from batchport.errors import ConfigError

__all__ = [
    "SCHEMA_VERSION",
    "PendingRow",
    "RowRecord",
    "RunRecord",
    "Settlement",
    "ShardRecord",
    "Store",
    "default_home",
]

SCHEMA_VERSION = 1

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
    error TEXT
);
CREATE TABLE IF NOT EXISTS shards (
    run_id TEXT NOT NULL REFERENCES runs(id),
    shard_id TEXT NOT NULL,
    parent_id TEXT,
    attempt INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT,
    input_path TEXT NOT NULL,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    est_tokens INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    file_id TEXT,
    batch_id TEXT,
    batch_status TEXT,
    output_file_id TEXT,
    error_file_id TEXT,
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
    result_path TEXT,
    result_offset INTEGER,
    result_length INTEGER,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    settled_at REAL,
    PRIMARY KEY (run_id, idx)
);
CREATE UNIQUE INDEX IF NOT EXISTS rows_custom_id ON rows (run_id, custom_id);
CREATE INDEX IF NOT EXISTS rows_shard ON rows (run_id, shard_id, pos);
"""


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


@dataclass(frozen=True, slots=True)
class ShardRecord:
    run_id: str
    shard_id: str
    parent_id: str | None
    attempt: int
    endpoint: str
    model: str | None
    input_path: str
    rows: int
    bytes: int
    est_tokens: int
    content_hash: str
    state: str
    file_id: str | None
    batch_id: str | None
    batch_status: str | None
    output_file_id: str | None
    error_file_id: str | None
    requeues: int
    cancel_reason: str | None
    last_error: str | None
    updated_at: float

    @classmethod
    def planned(
        cls,
        run_id: str,
        shard_id: str,
        *,
        endpoint: str,
        model: str | None,
        input_path: str,
        rows: int,
        bytes: int,
        est_tokens: int,
        content_hash: str,
        parent_id: str | None = None,
        attempt: int = 1,
    ) -> ShardRecord:
        """A shard written to disk and not yet sent anywhere."""
        return cls(
            run_id, shard_id, parent_id, attempt, endpoint, model, input_path, rows, bytes,
            est_tokens, content_hash, "planned", None, None, None, None, None, 0, None, None, 0.0,
        )  # fmt: skip


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
    result_path: str | None
    result_offset: int | None
    result_length: int | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    settled_at: float | None


class Settlement(NamedTuple):
    """One row's outcome, in the column order :meth:`Store.settle_rows` writes."""

    idx: int
    outcome: str
    status_code: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    result_path: str | None = None
    result_offset: int | None = None
    result_length: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


class PendingRow(NamedTuple):
    idx: int
    custom_id: str
    pos: int
    attempt: int


def _columns(cls: type[Any]) -> str:
    return ", ".join(f.name for f in fields(cls))


_RUN_COLS = _columns(RunRecord)
_SHARD_COLS = _columns(ShardRecord)
_ROW_COLS = _columns(RowRecord)
_SHARD_MUTABLE = frozenset(
    f.name for f in fields(ShardRecord) if f.name not in {"run_id", "shard_id", "updated_at"}
)


class Store:
    """A SQLite run store at ``<home>/batchport.sqlite3``. Not shared across threads."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = Path(home) if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "batchport.sqlite3"
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        with self.transaction():
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise ConfigError(
                    f"run store {self.path} has schema version {row[0]}, newer than this "
                    f"batchport understands ({SCHEMA_VERSION}); upgrade batchport"
                )

    def close(self) -> None:
        self._db.close()

    def run_dir(self, run_id: str) -> Path:
        path = self.home / "runs" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- transactions -------------------------------------------------------------
    def transaction(self) -> _Transaction:
        """A write transaction; nested uses join the outer one."""
        return _Transaction(self._db)

    # -- runs ----------------------------------------------------------------------
    def create_run(
        self, run_id: str, *, backend: str, provider: str, fingerprint: str, options: str
    ) -> RunRecord:
        now = time.time()
        with self.transaction():
            self._db.execute(
                f"INSERT INTO runs ({_RUN_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (run_id, now, now, backend, provider, fingerprint, "planning", 0, options, None),
            )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        row = self._db.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(run_id)
        return RunRecord(*row)

    def find_run(self, run_id: str) -> RunRecord | None:
        try:
            return self.get_run(run_id)
        except KeyError:
            return None

    def list_runs(self) -> list[RunRecord]:
        cur = self._db.execute(f"SELECT {_RUN_COLS} FROM runs ORDER BY created_at DESC")
        return [RunRecord(*r) for r in cur]

    def update_run(self, run_id: str, **changes: Any) -> None:
        allowed = {"state", "total_rows", "error", "options", "fingerprint"}
        bad = set(changes) - allowed
        if bad:
            raise ValueError(f"cannot update run fields {sorted(bad)}")
        sets = ", ".join(f"{k}=?" for k in changes)
        with self.transaction():
            self._db.execute(
                f"UPDATE runs SET {sets}, updated_at=? WHERE id=?",
                (*changes.values(), time.time(), run_id),
            )

    # -- shards --------------------------------------------------------------------
    def add_shard(self, shard: ShardRecord) -> None:
        marks = ",".join("?" * len(fields(ShardRecord)))
        values = tuple(getattr(shard, f.name) for f in fields(ShardRecord))
        with self.transaction():
            self._db.execute(f"INSERT INTO shards ({_SHARD_COLS}) VALUES ({marks})", values)

    def update_shard(self, run_id: str, shard_id: str, **changes: Any) -> ShardRecord:
        bad = set(changes) - _SHARD_MUTABLE
        if bad:
            raise ValueError(f"cannot update shard fields {sorted(bad)}")
        sets = ", ".join(f"{k}=?" for k in changes)
        with self.transaction():
            self._db.execute(
                f"UPDATE shards SET {sets}, updated_at=? WHERE run_id=? AND shard_id=?",
                (*changes.values(), time.time(), run_id, shard_id),
            )
        return self.get_shard(run_id, shard_id)

    def get_shard(self, run_id: str, shard_id: str) -> ShardRecord:
        row = self._db.execute(
            f"SELECT {_SHARD_COLS} FROM shards WHERE run_id=? AND shard_id=?", (run_id, shard_id)
        ).fetchone()
        if row is None:
            raise KeyError((run_id, shard_id))
        return ShardRecord(*row)

    def shards(self, run_id: str) -> list[ShardRecord]:
        cur = self._db.execute(
            f"SELECT {_SHARD_COLS} FROM shards WHERE run_id=? ORDER BY rowid", (run_id,)
        )
        return [ShardRecord(*r) for r in cur]

    # -- ledger rows -----------------------------------------------------------------
    def add_rows(self, run_id: str, rows: Iterable[tuple[int, str, str, int]]) -> None:
        """Insert ledger rows as ``(idx, custom_id, shard_id, pos)``, unsettled."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO rows (run_id, idx, custom_id, shard_id, pos) VALUES (?,?,?,?,?)",
                ((run_id, *r) for r in rows),
            )

    def shard_custom_ids(self, run_id: str, shard_id: str) -> set[str]:
        cur = self._db.execute(
            "SELECT custom_id FROM rows WHERE run_id=? AND shard_id=?", (run_id, shard_id)
        )
        return {r[0] for r in cur}

    def unsettled_of_shard(self, run_id: str, shard_id: str) -> list[PendingRow]:
        """The shard's rows without an outcome: just what reconciliation needs."""
        cur = self._db.execute(
            "SELECT idx, custom_id, pos, attempt FROM rows "
            "WHERE run_id=? AND shard_id=? AND outcome IS NULL ORDER BY pos",
            (run_id, shard_id),
        )
        return [PendingRow(*r) for r in cur]

    def rows_of_shard(self, run_id: str, shard_id: str) -> Iterator[RowRecord]:
        cur = self._db.execute(
            f"SELECT {_ROW_COLS} FROM rows WHERE run_id=? AND shard_id=? ORDER BY pos",
            (run_id, shard_id),
        )
        for r in cur:
            yield RowRecord(*r)

    def iter_rows(self, run_id: str, *, order: str = "input") -> Iterator[RowRecord]:
        """Every ledger row, in input order (``"input"``) or as settled (``"landed"``)."""
        by = "idx" if order == "input" else "settled_at IS NULL, settled_at, idx"
        cur = self._db.execute(
            f"SELECT {_ROW_COLS} FROM rows WHERE run_id=? ORDER BY {by}", (run_id,)
        )
        for r in cur:
            yield RowRecord(*r)

    def get_row(self, run_id: str, custom_id: str) -> RowRecord:
        row = self._db.execute(
            f"SELECT {_ROW_COLS} FROM rows WHERE run_id=? AND custom_id=?", (run_id, custom_id)
        ).fetchone()
        if row is None:
            raise KeyError(custom_id)
        return RowRecord(*row)

    def settle_rows(self, run_id: str, settlements: Iterable[Settlement]) -> int:
        """Record outcomes. A row already settled is left as it is, so replaying a
        reconciliation after a crash never changes or doubles an outcome. Returns the
        number of rows settled now."""
        sql = (
            "UPDATE rows SET outcome=?, status_code=?, error_code=?, error_message=?, "
            "result_path=?, result_offset=?, result_length=?, input_tokens=?, "
            "output_tokens=?, cached_tokens=?, reasoning_tokens=?, settled_at=? "
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
        cur = self._db.execute(
            "SELECT outcome, COUNT(*) FROM rows WHERE run_id=? GROUP BY outcome", (run_id,)
        )
        return {k: int(v) for k, v in cur}

    def usage_totals(self, run_id: str) -> tuple[int, int, int, int]:
        row = self._db.execute(
            "SELECT COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), "
            "COALESCE(SUM(cached_tokens),0), COALESCE(SUM(reasoning_tokens),0) "
            "FROM rows WHERE run_id=?",
            (run_id,),
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def usage_by_model(self, run_id: str) -> dict[str | None, tuple[int, int, int]]:
        """(input, output, cached) tokens per shard model, summed in the database."""
        cur = self._db.execute(
            "SELECT s.model, COALESCE(SUM(r.input_tokens),0), COALESCE(SUM(r.output_tokens),0), "
            "COALESCE(SUM(r.cached_tokens),0) FROM rows r JOIN shards s "
            "ON s.run_id = r.run_id AND s.shard_id = r.shard_id WHERE r.run_id=? GROUP BY s.model",
            (run_id,),
        )
        return {m: (int(i), int(o), int(c)) for m, i, o, c in cur}

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error); re-entrant."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._outer = False

    def __enter__(self) -> None:
        self._outer = not self._db.in_transaction
        if self._outer:
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if not self._outer:
            return
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
