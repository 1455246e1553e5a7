"""Lifecycles as data, and what only the embedded SQLite store has (its file, its
schema versions). What every store guarantees is in the conformance tests beside this
file (test_lifecycle, test_ledger, test_blob_stores), run against each store."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchport.store import (
    RunState,
    ShardRecord,
    ShardState,
    SQLiteStore,
)
from batchport.store.states import RUN_EDGES, SHARD_EDGES


def _store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path)
    store.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
    store.add_shard(
        ShardRecord.planned(
            "r",
            "s0000",
            endpoint="/v1/chat/completions",
            model="m",
            caller_model="m",
            input_key="r/shards/s0000.jsonl",
            rows=1,
            bytes=10,
            est_tokens=5,
            content_hash="h",
        )
    )
    return store


def test_every_state_has_a_row_in_its_table() -> None:
    assert set(RUN_EDGES) == set(RunState)
    assert set(SHARD_EDGES) == set(ShardState)
    assert {s for s in ShardState if s.is_final} == {ShardState.RECONCILED, ShardState.ABANDONED}


def test_a_store_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    import sqlite3

    from batchport.errors import ConfigError

    db = sqlite3.connect(tmp_path / "batchport.sqlite3")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="schema version 1"):
        SQLiteStore(tmp_path)


def _schema_5() -> str:
    """Schema 5: today's, with the ledger keyed by the run's id (in a rowid table)."""
    from batchport.store.sqlite import _SCHEMA

    rows = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS rows (") :].split(";")[0]
    keys = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS run_keys (") :].split(";")[0]
    old_rows = rows.replace("    run INTEGER NOT NULL,", "    run_id TEXT NOT NULL,").replace(
        "PRIMARY KEY (run, idx)\n) WITHOUT ROWID", "PRIMARY KEY (run_id, idx)\n)"
    )
    schema = _SCHEMA.replace(rows, old_rows).replace(keys + ";\n", "")
    return schema.replace("rows (run, ", "rows (run_id, ")


def _old_schema(version: int) -> str:
    """The SQLite schema as ``version`` had it: today's, less what came later."""
    schema = _schema_5()
    if version == 5:
        return schema
    if version == 4:  # schema 5 added two indexes, at the end
        return schema[: schema.index("CREATE INDEX IF NOT EXISTS shards_open")]
    later = [
        ("    source TEXT,\n    paused_at REAL\n", "    source TEXT\n"),
        ("    lease_owner TEXT,\n    lease_since REAL,\n    lease_expires REAL,\n", ""),
        ("    woken_at REAL,\n", ""),
        ("    route TEXT,\n", ""),
        ("CREATE INDEX IF NOT EXISTS shards_job ON shards (job_id);\n", ""),
        (schema[schema.index("CREATE TABLE IF NOT EXISTS quota") :], ""),
    ]
    if version < 3:
        later.append(("    cache_write_tokens INTEGER NOT NULL DEFAULT 0,\n", ""))
    for cut, keep in later:
        assert cut in schema
        schema = schema.replace(cut, keep)
    return schema


@pytest.mark.parametrize("version", [2, 3, 4, 5])
def test_an_older_store_is_upgraded_in_place_and_keeps_its_rows(
    tmp_path: Path, version: int
) -> None:
    import sqlite3

    from batchport.store import Settlement

    db = sqlite3.connect(tmp_path / "batchport.sqlite3")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    db.executescript(_old_schema(version))
    insert = "INSERT INTO rows (run_id, idx, custom_id, shard_id, pos) VALUES (?, ?, ?, ?, 1)"
    db.executemany(insert, [("r", 0, "a", "s"), ("r", 1, "b", "s"), ("r", 2, "c", "s-2"),
                            ("q", 0, "a", "s")])  # fmt: skip
    # settled rows: one in its shard's own result blob, one in a fallback's blob
    settle = "UPDATE rows SET outcome='succeeded', result_key=?, result_offset=?, result_length=9 "
    db.execute(settle + "WHERE run_id='r' AND idx=1", ("r/results/s.jsonl", 0))
    db.execute(settle + "WHERE run_id='r' AND idx=2", ("r/results/s-2-rt-ab-00001.jsonl", 9))
    db.commit()
    db.close()
    with SQLiteStore(tmp_path) as store:
        assert store.get_row("r", "a").cache_write_tokens == 0
        assert store.settle_rows("r", [Settlement(0, "succeeded", cache_write_tokens=7)]) == 1
        assert store.usage_totals("r")[4] == 7
        assert store.get_row("q", "a").outcome is None  # another run's row, kept apart
    with SQLiteStore(tmp_path) as store:  # opened again: already current, nothing to do
        row = store.get_row("r", "a")
        assert (row.outcome, row.route) == ("succeeded", None)
        keys = [(r.result_key, r.result_offset) for r in store.iter_rows("r")]
        assert keys == [(None, None), ("r/results/s.jsonl", 0),
                        ("r/results/s-2-rt-ab-00001.jsonl", 9)]  # fmt: skip
        assert store.outcome_counts("q") == {None: 1}
    db = sqlite3.connect(tmp_path / "batchport.sqlite3")
    stored = db.execute("SELECT result_key, outcome FROM rows ORDER BY run, idx").fetchall()
    db.close()  # the shard's own blob is implied, not stored; an outcome is a small code
    assert sorted(stored, key=str) == sorted(
        [(None, 1), (None, 1), ("r/results/s-2-rt-ab-00001.jsonl", 1), (None, None)], key=str
    )


def test_the_store_and_its_blobs_are_private(tmp_path: Path) -> None:
    import os
    import stat

    home = tmp_path / "home"
    with _store(home) as store, store.blobs.writer("r/results/s0000.jsonl") as out:
        out.write(b"{}\n")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(home) == 0o700
    assert mode(home / "batchport.sqlite3") == 0o600
    assert all(mode(p) == 0o600 for p in home.glob("batchport.sqlite3-*"))
    assert mode(home / "runs" / "r" / "results") == 0o700
    assert mode(home / "runs" / "r" / "results" / "s0000.jsonl") == 0o600
