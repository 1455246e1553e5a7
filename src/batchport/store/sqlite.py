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
from functools import partial
from itertools import islice, repeat
from operator import add
from pathlib import Path

import orjson

from batchport.errors import ConfigError
from batchport.store._sql import LEASE_COLS, ROW_SELECT, SETTLE_COLS, SQLStore, as_row
from batchport.store.base import (
    RESULT_SUFFIX,
    DuplicateRow,
    Lease,
    RowRecord,
    Settlement,
    ShardRecord,
    default_home,
    result_prefix,
)
from batchport.store.blobs import BlobStore, LocalBlobs
from batchport.store.bulk import SUCCEEDED, SettlementBatch, as_settlements

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = 6
#: how long opening and writing wait for another process holding the database (seconds)
_BUSY_S = 30.0

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
    source TEXT,
    paused_at REAL
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
    lease_owner TEXT,
    lease_since REAL,
    lease_expires REAL,
    woken_at REAL,
    PRIMARY KEY (run_id, shard_id)
);
CREATE TABLE IF NOT EXISTS rows (
    run INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    custom_id TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    pos INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    outcome INTEGER,
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
    route TEXT,
    PRIMARY KEY (run, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_at REAL NOT NULL,
    renewed_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS run_keys (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE
);
CREATE UNIQUE INDEX IF NOT EXISTS rows_custom_id ON rows (run, custom_id);
CREATE INDEX IF NOT EXISTS rows_shard ON rows (run, shard_id, pos);
CREATE INDEX IF NOT EXISTS shards_job ON shards (job_id);
CREATE TABLE IF NOT EXISTS quota (
    run_id TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    key TEXT NOT NULL,
    amount INTEGER NOT NULL,
    taken_at REAL NOT NULL,
    PRIMARY KEY (run_id, shard_id)
);
CREATE INDEX IF NOT EXISTS quota_key ON quota (key);
CREATE INDEX IF NOT EXISTS shards_open ON shards (run_id)
    WHERE state NOT IN ('reconciled', 'abandoned');
CREATE INDEX IF NOT EXISTS shards_leased ON shards (lease_owner) WHERE lease_owner IS NOT NULL;
"""


# Outcomes as the ledger keeps them: a small integer each, where the text would take
# nine bytes a row ('succeeded') in a million rows written twice (WAL, then database).
# Never renumbered; an outcome not listed is kept as its text.
_OUTCOME_CODES = {
    "succeeded": 1,
    "refused": 2,
    "truncated": 3,
    "content_filtered": 4,
    "failed": 5,
    "expired": 6,
    "cancelled": 7,
    "missing": 8,
}
_code = _OUTCOME_CODES.get


def _text(value: str) -> str | None:
    """``value`` as an SQL string literal, or None when it cannot be one (a NUL, which
    would end it, or text UTF-8 cannot carry)."""
    if "\0" in value:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return None
    return "'" + value.replace("'", "''") + "'"


def _lit(value: int | str) -> str:
    if isinstance(value, int):
        return str(value)
    text = _text(value)
    assert text is not None  # outcome names are plain words
    return text


def _recode(column: str, pairs: Iterable[tuple[int | str, int | str]]) -> str:
    """SQL that maps ``column``'s value by ``pairs`` (from, to), leaving others as they are."""
    whens = " ".join(f"WHEN {_lit(a)} THEN {_lit(b)}" for a, b in pairs)
    return f"CASE {column} {whens} ELSE {column} END"


#: an outcome as a ledger read gives it: its text
_OUTCOME_TEXT = _recode("outcome", ((c, t) for t, c in _OUTCOME_CODES.items()))

# Steps from an older schema to this one, run inside the opening transaction.
_V4 = (
    "ALTER TABLE runs ADD COLUMN paused_at REAL",
    "ALTER TABLE shards ADD COLUMN lease_owner TEXT",
    "ALTER TABLE shards ADD COLUMN lease_since REAL",
    "ALTER TABLE shards ADD COLUMN lease_expires REAL",
    "ALTER TABLE shards ADD COLUMN woken_at REAL",
    "ALTER TABLE rows ADD COLUMN route TEXT",
)
# schema 6 keys the ledger by a small integer per run instead of the run's id (in the
# table and both its indexes), clusters it on (run, idx) with no separate rowid, and
# leaves a row's result key out when it is its shard's own result blob, and keeps each
# outcome as a small code: a million-row run's ledger shrinks from some 300 to some
# 110 MB, and so does what is written for it
_V6 = (
    "CREATE TABLE run_keys (key INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL UNIQUE)",
    "INSERT OR IGNORE INTO run_keys (run_id) SELECT id FROM runs ORDER BY created_at",
    "INSERT OR IGNORE INTO run_keys (run_id) SELECT DISTINCT run_id FROM rows",
    _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS rows (") :]
    .split(";")[0]
    .replace("IF NOT EXISTS rows (", "rows_v6 ("),
    "INSERT INTO rows_v6 SELECT k.key, r.idx, r.custom_id, r.shard_id, r.pos, r.attempt, "
    + _recode("r.outcome", _OUTCOME_CODES.items())
    + ", r.status_code, r.error_code, r.error_message, "
    "NULLIF(r.result_key, r.run_id || '/results/' || r.shard_id || '.jsonl'), "
    "r.result_offset, r.result_length, r.input_tokens, r.output_tokens, r.cached_tokens, "
    "r.reasoning_tokens, r.settled_at, r.cache_write_tokens, r.route "
    "FROM rows r JOIN run_keys k ON k.run_id = r.run_id",
    "DROP TABLE rows",  # and its indexes, which the schema script makes again
    "ALTER TABLE rows_v6 RENAME TO rows",
)
_UPGRADES: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE rows ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0", *_V4, *_V6),
    3: (*_V4, *_V6),
    4: _V6,  # schema 5 added only indexes, which the schema script creates
    5: _V6,
}


_INSERT = "INSERT INTO rows (run, idx, custom_id, shard_id, pos) VALUES (?,?,?,?,?)"
_INSERT_PAGE = (
    "INSERT INTO rows (run, idx, custom_id, shard_id, pos) "
    "SELECT ?1, j.value->>0, j.value->>1, j.value->>2, j.value->>3 FROM json_each(?2) AS j"
)
_PAGE = 5000
_NUL = "\\u0000"  # how orjson writes a NUL character
# a row's result key is left out (NULL) when it is its own shard's result blob, the
# run's result prefix (bound last) and the shard; reads spell it out again (ROW_SELECT)
_N = len(SETTLE_COLS)  # bound as (*settlement[1:], settled_at, run key, idx, prefix)
_SETTLE = (
    "UPDATE rows SET "
    + ", ".join(
        f"result_key=NULLIF(?{i}, ?{_N + 4} || shard_id || '{RESULT_SUFFIX}')"
        if c == "result_key"
        else f"{c}=?{i}"
        for i, c in enumerate(SETTLE_COLS, 1)
    )
    + f", settled_at=?{_N + 1} WHERE run=?{_N + 2} AND idx=?{_N + 3} AND outcome IS NULL"
)
# a plain success (see batchport.store.bulk), bound as (*PlainRows row, settled_at):
# what _SETTLE writes for it, the columns it leaves NULL as constants, and the batch's
# run key and result key written into the statement (see _settle_plain), so that each
# row binds ten integers and no text, and no key is spelled out again row by row
_SETTLE_PLAIN = (
    f"UPDATE rows SET outcome={_OUTCOME_CODES[SUCCEEDED]}, status_code=?2, error_code=NULL, "
    "error_message=NULL, result_key={result_key}, "
    "result_offset=?3, result_length=?4, input_tokens=?5, "
    "output_tokens=?6, cached_tokens=?7, reasoning_tokens=?8, cache_write_tokens=?9, "
    "route=NULL, settled_at=?10 WHERE run={run} AND idx=?1 AND outcome IS NULL"
)


def _settle_plain(run: int, prefix: str, key: str) -> str | None:
    """The statement settling plain successes whose lines are in the blob ``key``: the
    key is left out (NULL) for rows of the shard it belongs to, as :data:`_SETTLE` does.
    None when the key cannot be written as a literal."""
    literal = _text(key)
    if literal is None:
        return None
    if key.startswith(prefix) and key.endswith(RESULT_SUFFIX):
        own = _text(key[len(prefix) : len(key) - len(RESULT_SUFFIX)])
        if own is None:
            return None
        literal = f"CASE shard_id WHEN {own} THEN NULL ELSE {literal} END"
    return _SETTLE_PLAIN.format(result_key=literal, run=int(run))


class SQLiteStore(SQLStore):
    """A run store at ``<home>/batchport.sqlite3`` with blobs under ``<home>/runs``."""

    _MARK = "?"
    # no lock clause: BEGIN IMMEDIATE holds the database's write lock from the start
    _LOCK_ROW = ""
    _SHARD_ORDER = "rowid"
    _TAKEN = sqlite3.IntegrityError
    _ROW_RUN = "run"
    _OUTCOME = _OUTCOME_TEXT
    _ROW_SELECT = ROW_SELECT.replace(", outcome,", f", {_OUTCOME_TEXT},", 1)

    _db: sqlite3.Connection

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
        self._keys: dict[str, int] = {}  # run id -> its ledger key (see _row_key)
        self._db = sqlite3.connect(
            self.path, isolation_level=None, timeout=_BUSY_S, check_same_thread=False
        )
        self._closed = False
        self._wal(deadline=time.monotonic() + _BUSY_S)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def _wal(self, *, deadline: float) -> None:
        """Switch the database to WAL, waiting for other processes opening it too.

        Changing the journal mode needs the database to itself, and SQLite answers
        "locked" at once rather than through the busy timeout while another
        connection writes; two processes opening one new home at the same moment
        (a run and ``batchport status``, two workers) would otherwise see one fail.
        """
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    self._db.close()
                    raise
            except sqlite3.DatabaseError as e:  # a file that is not SQLite at all
                self._db.close()
                raise ConfigError(
                    f"run store {self.path} is not a batchport store ({e}); move it "
                    "aside or point BATCHPORT_HOME at another directory"
                ) from None
            time.sleep(0.01)

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

    # -- leases --------------------------------------------------------------------
    def take_lease(self, lease: Lease, *, replacing: str | None = None, now: float) -> Lease:
        # read, decide, write: safe because BEGIN IMMEDIATE shuts other writers out
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
                f"INSERT OR REPLACE INTO leases ({LEASE_COLS}) VALUES (?,?,?,?,?,?,?)",
                as_row(lease),
            )
            return lease

    def claim_next(self, owner: str, *, now: float, expires: float) -> ShardRecord | None:
        """Claim the first shard a worker may drive (oldest run first, shards in
        order), or None. BEGIN IMMEDIATE makes the pick and the claim one step."""
        select = (
            "SELECT sh.run_id, sh.shard_id FROM shards sh JOIN runs r ON r.id = sh.run_id "
            f"WHERE {self._claimable()} ORDER BY r.created_at, sh.rowid LIMIT 1"
        )
        with self.transaction():
            row = self._db.execute(select, (now, now)).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE shards SET lease_owner=?, lease_since=?, lease_expires=? "
                "WHERE run_id=? AND shard_id=?",
                (owner, now, expires, row[0], row[1]),
            )
            return self.get_shard(row[0], row[1])

    # -- runs ----------------------------------------------------------------------
    def _row_key(self, run_id: str, *, create: bool = False) -> int:
        """The small integer the ledger keys the run's rows by (``run_keys``), made
        when its first rows are added; -1, which matches no row, for a run that has
        none. Committed keys are never reused (AUTOINCREMENT), so a key remembered
        here for a run another process deleted matches nothing, not another run."""
        key = self._keys.get(run_id)
        if key is not None:
            return key
        select = "SELECT key FROM run_keys WHERE run_id=?"
        with self._lock:
            row = self._db.execute(select, (run_id,)).fetchone()
            if row is None:
                if not create:
                    return -1
                with self.transaction():
                    self._db.execute("INSERT OR IGNORE INTO run_keys (run_id) VALUES (?)",
                                     (run_id,))  # fmt: skip
                    row = self._db.execute(select, (run_id,)).fetchone()
            key = int(row[0])
            if not self._db.in_transaction:  # remembered once committed: a rollback
                self._keys[run_id] = key  # would give the key back for another run
        return key

    def delete_run(self, run_id: str) -> None:
        with self.transaction():
            self._delete_records(run_id)
            self._db.execute("DELETE FROM run_keys WHERE run_id=?", (run_id,))
            self._keys.pop(run_id, None)
        self.blobs.delete_prefix(run_id)  # files: after the commit, outside it

    # -- ledger rows -----------------------------------------------------------------
    def add_rows(self, run_id: str, rows: Iterable[tuple[int, str, str, int]]) -> None:
        """Insert ledger rows as ``(idx, custom_id, shard_id, pos)``, unsettled.

        Raises :class:`DuplicateRow` when a custom_id is already in the run."""
        it = iter(rows)
        try:
            with self.transaction():
                key = self._row_key(run_id, create=True)
                while page := list(islice(it, _PAGE)):
                    # a page as one JSON array, read by SQLite in C: cheaper than
                    # binding each row, for the same rows in the same order
                    try:
                        doc = orjson.dumps(page).decode()
                    except TypeError:  # not JSON-able (a lone surrogate): row by row
                        doc = _NUL
                    if _NUL in doc:  # SQLite's JSON text would end at a NUL character
                        self._db.executemany(_INSERT, ((key, *r) for r in page))
                    else:
                        self._db.execute(_INSERT_PAGE, (key, doc))
        except sqlite3.IntegrityError as exc:
            raise DuplicateRow(str(exc)) from None

    def iter_rows(self, run_id: str, *, order: str = "input") -> Iterator[RowRecord]:
        """Every ledger row, in input order (``"input"``) or as settled (``"landed"``),
        fetched in pages so a million rows never sit in memory at once."""
        by = "idx" if order == "input" else "settled_at IS NULL, settled_at, idx"
        args = (result_prefix(run_id), self._row_key(run_id))
        with self._lock:
            cur = self._db.execute(
                f"SELECT {self._ROW_SELECT} FROM rows WHERE run=? ORDER BY {by}", args
            )
        record = partial(RowRecord, run_id)
        try:
            while True:
                with self._lock:
                    batch = cur.fetchmany(2000)
                if not batch:
                    return
                for r in batch:
                    yield record(*r)
        finally:
            with self._lock:
                cur.close()

    def settle_rows(self, run_id: str, settlements: Iterable[Settlement]) -> int:
        """Record outcomes. A row already settled is left as it is, so replaying a
        reconciliation after a crash never changes or doubles an outcome. Returns the
        number of rows settled now."""
        now = time.time()
        prefix = result_prefix(run_id)
        with self.transaction():
            run = self._row_key(run_id)
            if not isinstance(settlements, SettlementBatch):
                return self._settle(run, prefix, settlements, now)
            # the plain successes as they are, their constants added in C: no Python
            # code runs per row
            key, rows = settlements.plain()
            sql = _settle_plain(run, prefix, key)
            if sql is None:  # a key no literal can hold: as any other settlement
                n = self._settle(run, prefix, as_settlements(key, rows), now)
            else:
                n = self._db.executemany(sql, map(add, rows, repeat((now,)))).rowcount
            return n + self._settle(run, prefix, settlements.others(), now)

    def _settle(self, run: int, prefix: str, settlements: Iterable[Settlement], now: float) -> int:
        rows = ((_code(st[1], st[1]), *st[2:], now, run, st[0], prefix) for st in settlements)
        return self._db.executemany(_SETTLE, rows).rowcount

    def move_rows(self, run_id: str, moves: Iterable[tuple[str, str, int, int]]) -> None:
        """Reassign unsettled rows to a child shard: ``(custom_id, shard_id, pos, attempt)``."""
        with self.transaction():
            run = self._row_key(run_id)
            self._db.executemany(
                "UPDATE rows SET shard_id=?, pos=?, attempt=? "
                "WHERE run=? AND custom_id=? AND outcome IS NULL",
                ((s, p, a, run, c) for c, s, p, a in moves),
            )
