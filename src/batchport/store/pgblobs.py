"""Blobs kept in PostgreSQL, beside the runs they belong to, so any worker can read them.

A blob is one row of ``blobs`` (its key and size) and its bytes are rows of
``blob_chunks``, :data:`CHUNK` bytes each (the last one shorter). Readers fetch one
chunk at a time and writers send one chunk at a time, so a 200 MB result file never
sits in memory. A writer fills a *pending* blob (key NULL); only when its block ends
cleanly does the pending blob take the key, replacing the old blob in the same
transaction, so a reader sees the old bytes or the new ones, never half of either.
A pending blob left by a killed writer holds no key and is swept when the store opens.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO

import psycopg

__all__ = ["CHUNK", "PostgresBlobs"]

#: bytes per chunk row: big enough that a 50,000-row shard is a few dozen round trips,
#: small enough that a reader holds little and TOAST stores it without fuss
CHUNK = 1 << 20

#: pending blobs older than this (seconds) belong to a writer that died
STALE_PENDING = 24 * 3600.0

#: chunks kept after reading, across every reader of the store: results read in input
#: order jump about a shard's result blob (it is in the provider's order), and without
#: them each row would fetch its whole chunk again
CACHE_CHUNKS = 32


class PostgresBlobs:
    """A :class:`~batchport.store.blobs.BlobStore` over a store's connection.

    ``lock`` is the store's: every statement runs under it, so blob reads and writes
    from several threads interleave with the store's own statements safely, and a
    blob written inside :meth:`PostgresStore.transaction` commits (or vanishes) with it.
    """

    def __init__(self, conn: psycopg.Connection[Any], lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock
        # (blob id, chunk) -> bytes; a blob id's bytes never change (a rewrite is a new id)
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()

    def __repr__(self) -> str:
        return "PostgresBlobs()"

    def _one(self, sql: str, args: tuple[Any, ...], *, binary: bool = False) -> Any:
        with self._lock:
            return self._conn.execute(sql, args, binary=binary).fetchone()

    def _run(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            return self._conn.execute(sql, args).rowcount

    def open(self, key: str) -> BinaryIO:
        row = self._one("SELECT id, size FROM blobs WHERE key=%s", (key,))
        if row is None:
            raise FileNotFoundError(key)
        return io.BufferedReader(_ChunkReader(self, int(row[0]), int(row[1]), key))

    @contextmanager
    def writer(self, key: str, *, compressed: bool = False) -> Iterator[BinaryIO]:
        """A blob's writer. ``compressed`` is accepted and ignored: the bytes are stored
        plainly, and PostgreSQL's TOAST already compresses each chunk row."""
        row = self._one(
            "INSERT INTO blobs (key, size, created_at) VALUES (NULL, 0, %s) RETURNING id",
            (time.time(),),
        )
        raw = _ChunkWriter(self, int(row[0]))
        out = io.BufferedWriter(raw, buffer_size=CHUNK)
        try:
            yield out
            out.flush()
            raw.finish()
            with self._lock, self._conn.transaction():
                # two writers of one key: the later commit wins, neither fails (the
                # lock is per schema and key, so other stores in the database never wait)
                self._conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext(%s))",
                    (key,),
                )
                self._conn.execute("DELETE FROM blobs WHERE key=%s", (key,))
                self._conn.execute(
                    "UPDATE blobs SET key=%s, size=%s WHERE id=%s", (key, raw.size, raw.blob_id)
                )
        except BaseException:
            raw.dead = True  # what is still buffered goes nowhere
            self._discard(raw.blob_id)
            raise
        finally:
            out.close()

    def _discard(self, blob_id: int) -> None:
        # an aborted transaction rolls the pending blob back anyway
        with suppress(psycopg.Error):
            self._run("DELETE FROM blobs WHERE id=%s", (blob_id,))

    def exists(self, key: str) -> bool:
        return self._one("SELECT 1 FROM blobs WHERE key=%s", (key,)) is not None

    def delete(self, key: str) -> None:
        self._run("DELETE FROM blobs WHERE key=%s", (key,))

    def delete_prefix(self, prefix: str) -> None:
        self._run("DELETE FROM blobs WHERE starts_with(key, %s)", (prefix.rstrip("/") + "/",))

    def sweep(self, now: float) -> int:
        """Delete pending blobs of writers that died long ago; returns how many."""
        return self._run(
            "DELETE FROM blobs WHERE key IS NULL AND created_at < %s", (now - STALE_PENDING,)
        )

    def _chunk(self, blob_id: int, seq: int) -> bytes:
        with self._lock:
            data = self._cache.get((blob_id, seq))
            if data is not None:
                self._cache.move_to_end((blob_id, seq))
                return data
            row = self._one(
                "SELECT data FROM blob_chunks WHERE blob_id=%s AND seq=%s",
                (blob_id, seq),
                binary=True,
            )
            if row is None:
                raise FileNotFoundError(f"blob {blob_id} lost chunk {seq}: replaced or deleted")
            data = self._cache[(blob_id, seq)] = bytes(row[0])
            while len(self._cache) > CACHE_CHUNKS:
                self._cache.popitem(last=False)
            return data

    def _put(self, blob_id: int, seq: int, data: bytes) -> None:
        self._run(
            "INSERT INTO blob_chunks (blob_id, seq, data) VALUES (%s, %s, %b)",
            (blob_id, seq, data),
        )


class _ChunkReader(io.RawIOBase):
    """Random access over a blob's chunks, holding the one chunk last read."""

    def __init__(self, blobs: PostgresBlobs, blob_id: int, size: int, key: str) -> None:
        self._blobs, self._id, self._size, self.name = blobs, blob_id, size, key
        self._pos = 0
        self._seq = -1
        self._data = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        seq, start = divmod(self._pos, CHUNK)
        if seq != self._seq:
            self._data, self._seq = self._blobs._chunk(self._id, seq), seq
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._data) - start)
        view[:n] = self._data[start : start + n]
        self._pos += n
        return n


class _ChunkWriter(io.RawIOBase):
    """Cuts what it is given into :data:`CHUNK`-sized rows, in order."""

    def __init__(self, blobs: PostgresBlobs, blob_id: int) -> None:
        self._blobs, self.blob_id = blobs, blob_id
        self._buf = bytearray()
        self._seq = 0
        self.size = 0
        self.dead = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.dead:
            return len(view)
        self._buf += view
        while len(self._buf) >= CHUNK:
            self._send(bytes(self._buf[:CHUNK]))
            del self._buf[:CHUNK]
        return len(view)

    def finish(self) -> None:
        if self._buf:
            self._send(bytes(self._buf))
            self._buf.clear()

    def _send(self, data: bytes) -> None:
        self._blobs._put(self.blob_id, self._seq, data)
        self._seq += 1
        self.size += len(data)
