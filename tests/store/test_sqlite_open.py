"""Opening the embedded store while another process holds the same database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from batchport.errors import ConfigError
from batchport.store import sqlite as sqlite_store
from batchport.store.sqlite import SQLiteStore


def test_a_new_home_opens_once_another_writer_lets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # another process has just created the file and is writing to it, not yet in WAL:
    # SQLite refuses the journal-mode switch at once, without its busy timeout
    other = sqlite3.connect(tmp_path / "batchport.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE elsewhere (x)")
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the store waits; the other writer commits
        waits.append(seconds)
        if other.in_transaction:
            other.execute("COMMIT")

    monkeypatch.setattr(sqlite_store.time, "sleep", sleep)
    with SQLiteStore(tmp_path) as store:
        assert store.find_run("nothing") is None
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    other.close()
    assert waits, "the store met the other writer's lock"
    assert mode == "wal"


def test_a_file_that_is_not_a_store_is_named_not_waited_out(tmp_path: Path) -> None:
    (tmp_path / "batchport.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"batchport\.sqlite3 is not a batchport store"):
        SQLiteStore(tmp_path)
