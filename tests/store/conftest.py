"""Every store test runs against each store: the embedded SQLite one and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from batchport.store import RunStore, ShardRecord, open_store

from ._pg import fresh_schema

Opener = Callable[[], RunStore]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """What ``open_store`` is given: a home directory or a URL with a fresh schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "home")
    else:
        with fresh_schema() as url:
            yield url


@pytest.fixture
def opener(store_url: str) -> Iterator[Opener]:
    """Opens another store object on the same store (another connection); closes all."""
    made: list[RunStore] = []

    def open_another() -> RunStore:
        store, _ = open_store(store_url)
        made.append(store)
        return store

    yield open_another
    for store in made:
        store.close()


@pytest.fixture
def store(opener: Opener) -> RunStore:
    return opener()


def shard(run_id: str = "r", shard_id: str = "s0000", **kw: object) -> ShardRecord:
    fields: dict[str, object] = {
        "endpoint": "/v1/chat/completions", "model": "m", "caller_model": "m",
        "input_key": f"{run_id}/shards/{shard_id}.jsonl", "rows": 1, "bytes": 10,
        "est_tokens": 5, "content_hash": "h",
    }  # fmt: skip
    fields.update(kw)
    return ShardRecord.planned(run_id, shard_id, **fields)  # type: ignore[arg-type]


def new_run(store: RunStore, run_id: str = "r", shards: int = 1) -> RunStore:
    store.create_run(run_id, backend="memory", provider="openai", fingerprint="", options="{}")
    for i in range(shards):
        store.add_shard(shard(run_id, f"s{i:04d}"))
    return store
