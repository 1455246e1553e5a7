"""Every store's blobs: whole or absent, seekable, streamed, deleted with their run."""

from __future__ import annotations

import io
import os
import random

import pytest

from batchport.store import RunStore

from .conftest import Opener


def test_a_blob_reads_back_by_line_and_by_range(store: RunStore) -> None:
    lines = [f'{{"custom_id": "c{i}", "n": {i}}}\n'.encode() for i in range(500)]
    with store.blobs.writer("r/shards/s0000.jsonl") as out:
        for line in lines:
            out.write(line)
    assert store.blobs.exists("r/shards/s0000.jsonl")
    with store.blobs.open("r/shards/s0000.jsonl") as f:
        assert list(f) == lines
    offset = sum(map(len, lines[:100]))
    with store.blobs.open("r/shards/s0000.jsonl") as f:
        f.seek(offset)
        assert f.read(len(lines[100])) == lines[100]
        f.seek(0)
        assert f.readline() == lines[0]


def test_a_blob_larger_than_any_chunk_reads_back_at_every_offset(store: RunStore) -> None:
    data = os.urandom(2_600_000)  # spans several chunks of the PostgreSQL store
    with store.blobs.writer("r/results/big.jsonl") as out:
        for start in range(0, len(data), 70_001):  # writes that straddle chunk edges
            out.write(data[start : start + 70_001])
    rng = random.Random(7)
    with store.blobs.open("r/results/big.jsonl") as f:
        assert f.read() == data
        for _ in range(40):
            at = rng.randrange(len(data))
            size = rng.randrange(1, 300_000)
            f.seek(at)
            assert f.read(size) == data[at : at + size]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]


def _write_and_break(store: RunStore, key: str, data: bytes) -> None:
    with store.blobs.writer(key) as out:
        out.write(data)
        raise RuntimeError("download broke off")


def _write_in_a_failing_transaction(store: RunStore) -> None:
    with store.transaction():
        with store.blobs.writer("r/shards/s0000.jsonl") as out:
            out.write(b"{}\n")
        raise RuntimeError("preparation failed")


def test_a_failed_writer_leaves_the_old_blob(opener: Opener) -> None:
    store = opener()
    with store.blobs.writer("r/results/s.jsonl") as out:
        out.write(b"old\n")
    with pytest.raises(RuntimeError):
        _write_and_break(store, "r/results/s.jsonl", b"new, half written\n" * 1000)
    with opener().blobs.open("r/results/s.jsonl") as f:
        assert f.read() == b"old\n"
    with pytest.raises(RuntimeError):
        _write_and_break(store, "r/results/never.jsonl", b"x")
    assert not store.blobs.exists("r/results/never.jsonl")


def test_a_blob_is_replaced_whole_and_deleted(store: RunStore) -> None:
    blobs = store.blobs
    for body in (b"first\n", b"second, longer\n"):
        with blobs.writer("r/a.jsonl") as out:
            out.write(body)
    with blobs.open("r/a.jsonl") as f:
        assert f.read() == b"second, longer\n"
    with blobs.writer("r/sub/b.jsonl") as out:
        out.write(b"")
    with blobs.writer("rx/c.jsonl") as out:  # shares a prefix, not a folder
        out.write(b"c")
    with blobs.open("r/sub/b.jsonl") as f:
        assert f.read() == b""
    blobs.delete("r/a.jsonl")
    blobs.delete("r/a.jsonl")  # twice is fine
    with pytest.raises(FileNotFoundError):
        blobs.open("r/a.jsonl")
    blobs.delete_prefix("r")
    assert not blobs.exists("r/sub/b.jsonl")
    assert blobs.exists("rx/c.jsonl")


def test_a_blob_written_in_a_rolled_back_transaction_is_gone(opener: Opener) -> None:
    """Preparation writes shard inputs inside its transaction; if it fails, the SQLite
    store keeps stray files (harmless, overwritten on retry), the PostgreSQL store none."""
    store = opener()
    with pytest.raises(RuntimeError):
        _write_in_a_failing_transaction(store)
    with store.blobs.writer("r/shards/s0000.jsonl") as out:  # a retry overwrites
        out.write(b"[]\n")
    with opener().blobs.open("r/shards/s0000.jsonl") as f:
        assert f.read() == b"[]\n"
