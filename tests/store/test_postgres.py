"""What only the PostgreSQL store has: a URL that selects it, a password kept out of
sight, a schema it creates and migrates itself, and pending blobs it sweeps."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchport.errors import ConfigError
from batchport.store import SQLiteStore, open_store
from batchport.store.pgschema import MIGRATIONS, redact, split_url

from ._pg import URL, fresh_schema, with_schema


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema() as made:
        yield made


def test_the_password_stays_out_of_reprs_and_errors() -> None:
    url = "postgresql://alice:hunter2@127.0.0.1:1/db?password=hunter3&schema=s"
    assert redact(url) == "postgresql://alice:***@127.0.0.1:1/db?password=***&schema=s"
    assert split_url(url) == ("postgresql://alice:hunter2@127.0.0.1:1/db?password=hunter3", "s")
    with pytest.raises(ConfigError) as caught:  # nothing listens on port 1
        open_store(url)
    message = str(caught.value)
    assert "127.0.0.1" in message and "alice:***@" in message
    assert "hunter" not in message and "hunter" not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_url_selects_postgres_and_the_environment_may_too(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchport.store.postgres import PostgresStore

    monkeypatch.setenv("BATCHPORT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BATCHPORT_STORE", raising=False)
    for given in (url, url.replace("postgresql://", "postgres://", 1)):
        store, owned = open_store(given)
        assert isinstance(store, PostgresStore) and owned
        assert "password" not in repr(store)
        store.close()
    store, _ = open_store()
    assert isinstance(store, SQLiteStore) and store.home == tmp_path / "home"
    store.close()
    monkeypatch.setenv("BATCHPORT_STORE", url)
    store, _ = open_store()
    assert isinstance(store, PostgresStore)
    store.close()
    store, _ = open_store(tmp_path / "elsewhere")  # an explicit home still wins
    assert isinstance(store, SQLiteStore)
    store.close()


def test_without_psycopg_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "batchport.store.postgres", raising=False)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigError, match=r"batchport\[postgres\]"):
        open_store("postgresql://nobody@127.0.0.1:1/db")


def test_a_fresh_schema_is_created_once_by_workers_starting_together(url: str) -> None:
    from batchport.store.postgres import PostgresStore

    opened: list[PostgresStore] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def start() -> None:
        gate.wait()
        try:
            opened.append(PostgresStore(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.schema_version for s in opened} == {len(MIGRATIONS)}
    for s in opened:
        s.close()


def test_an_older_schema_is_upgraded_and_a_newer_one_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchport.store import postgres

    with postgres.PostgresStore(url) as store:
        store.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
    step = ("ALTER TABLE runs ADD COLUMN paused BOOLEAN NOT NULL DEFAULT false",)
    monkeypatch.setattr(postgres, "MIGRATIONS", (*MIGRATIONS, step))
    with postgres.PostgresStore(url) as store:
        assert store.schema_version == len(MIGRATIONS) + 1
        assert store.get_run("r").state == "planning"  # kept its runs
    monkeypatch.setattr(postgres, "MIGRATIONS", MIGRATIONS)
    with pytest.raises(ConfigError, match=f"schema version {len(MIGRATIONS) + 1}.*Upgrade"):
        postgres.PostgresStore(url)


def test_a_pending_blob_of_a_dead_writer_is_swept_when_the_store_opens(url: str) -> None:
    from batchport.store.pgblobs import STALE_PENDING
    from batchport.store.postgres import PostgresStore

    with PostgresStore(url) as store:
        db = store._db
        long_ago = time.time() - STALE_PENDING - 60
        for created in (long_ago, time.time()):  # a dead writer's, a live writer's
            (blob,) = db.execute(
                "INSERT INTO blobs (key, size, created_at) VALUES (NULL, 0, %s) RETURNING id",
                (created,),
            ).fetchone()  # type: ignore[misc]
            db.execute("INSERT INTO blob_chunks VALUES (%s, 0, %s)", (blob, b"x"))
    with PostgresStore(url) as store:
        count = store._db.execute("SELECT count(*) FROM blob_chunks").fetchone()
        assert count == (1,)


def test_the_schema_in_the_url_is_where_the_tables_go(url: str) -> None:
    import psycopg

    from batchport.store.postgres import PostgresStore

    schema = split_url(url)[1]
    with PostgresStore(url) as store:
        assert store.schema == schema
        store.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
    with psycopg.connect(URL) as db:
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema=%s", (schema,)
        ).fetchall()
        assert {t for (t,) in tables} >= {"meta", "runs", "shards", "rows", "leases", "blobs"}
    assert with_schema("postgresql://h/db?sslmode=disable", "x").endswith("disable&schema=x")
