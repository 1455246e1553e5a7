"""Blobs: where shard inputs and downloaded results live, behind one small interface.

The runner names blobs by key (``<run id>/shards/s0001.jsonl``) and never by path.
:class:`LocalBlobs` keeps them under a directory; another implementation (an object
store) can stand in without the runner knowing. Writes are atomic: a blob appears
whole, under its key, only when its writer closes without error.

A blob written with ``compressed=True`` (the runner's shard inputs) is kept on disk as
zstd frames, one per :data:`FRAME` bytes of its lines, after a skippable frame that
records its raw size; ``zstd -dc`` reads it back. :meth:`LocalBlobs.open` tells the two
kinds apart by their first bytes, so readers never know: a compressed blob opens as a
read-only stream of its raw bytes, seekable, whose end is at its raw size.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import zstandard

__all__ = ["FRAME", "BlobStore", "LocalBlobs"]

#: raw bytes per zstd frame of a compressed blob: a writer and a reader hold about this
#: much (256 KiB: one open shard costs little, and a shard still shrinks ~70 times)
FRAME = 1 << 18

#: compression level: level 1 already shrinks request lines many times over, and quickly
LEVEL = 1

# A compressed blob opens with a zstd skippable frame (magic 0x184D2A50 to 0x184D2A5F,
# little-endian, then its payload's length): 8 bytes of tag, then the raw size as a
# little-endian unsigned 64-bit integer, written when the writer closes.
_MAGIC = struct.pack("<I", 0x184D2A5B)
_TAG = b"bpshard1"
_HEAD = struct.Struct("<4sI8sQ")
_SIZE_AT = _HEAD.size - 8


class BlobStore(Protocol):
    def open(self, key: str) -> BinaryIO:
        """Open a blob for reading (seekable). Raises ``FileNotFoundError``."""
        ...

    def writer(self, key: str, *, compressed: bool = False) -> AbstractContextManager[BinaryIO]:
        """A binary writer; the blob replaces ``key`` only when the block ends cleanly.

        ``compressed``: the store may keep the bytes compressed (readers get them back
        unchanged); worth it for blobs that are large and read seldom, as shard inputs.
        """
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob whose key starts with ``prefix/``."""
        ...


class LocalBlobs:
    """Blobs as files under ``root`` (fsynced, renamed into place)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalBlobs({str(self.root)!r})"

    def path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"bad blob key {key!r}")
        return self.root / key

    def open(self, key: str) -> BinaryIO:
        f = self.path(key).open("rb")
        try:
            head = f.peek(_HEAD.size)[: _HEAD.size]
            if len(head) < _HEAD.size or not head.startswith(_MAGIC):
                return f  # a plain blob: the file itself
            _, length, tag, size = _HEAD.unpack(head)
            if length != _HEAD.size - 8 or tag != _TAG:
                return f
            return io.BufferedReader(_FrameReader(f, size), buffer_size=1 << 17)
        except BaseException:
            f.close()
            raise

    @contextmanager
    def writer(self, key: str, *, compressed: bool = False) -> Iterator[BinaryIO]:
        dest = self.path(key)
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        try:
            # prompts and answers: readable by the owner only
            with os.fdopen(os.open(part, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600), "wb") as f:
                if compressed:
                    with _compressing(f) as out:
                        yield out
                else:
                    yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix.rstrip("/")), ignore_errors=True)


@contextmanager
def _compressing(f: BinaryIO) -> Iterator[BinaryIO]:
    """A writer that compresses into ``f`` and, when its block ends cleanly, records
    the raw size in the header; a failed block leaves ``f`` to be thrown away."""
    raw = _FrameWriter(f)
    out = io.BufferedWriter(raw, buffer_size=FRAME)
    try:
        yield out
        out.flush()
        raw.finish()
    except BaseException:
        raw.dead = True  # what is still buffered goes nowhere
        raise
    finally:
        out.close()


_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    """This thread's compressor: each frame is compressed in one call, so the writers of
    a thread can share one (and its context), however many shards are open at once."""
    zc: zstandard.ZstdCompressor | None = getattr(_local, "zc", None)
    if zc is None:
        zc = _local.zc = zstandard.ZstdCompressor(level=LEVEL, write_checksum=True)
    return zc


class _FrameWriter(io.RawIOBase):
    """Writes each piece it is given as zstd frames of at most :data:`FRAME` raw bytes."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.size = 0
        self.dead = False
        f.write(_HEAD.pack(_MAGIC, _HEAD.size - 8, _TAG, 0))

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.dead:
            return len(view)
        compress, write = _compressor().compress, self._f.write
        for start in range(0, len(view), FRAME):
            write(compress(view[start : start + FRAME]))
        self.size += len(view)
        return len(view)

    def finish(self) -> None:
        self._f.seek(_SIZE_AT)
        self._f.write(struct.pack("<Q", self.size))
        self._f.seek(0, io.SEEK_END)


class _FrameReader(io.RawIOBase):
    """A compressed blob's raw bytes, decompressed as they are read.

    Positions are raw ones and the end is at the raw size, so a reader (or an HTTP
    client working out a Content-Length) sees the blob as it was written. Moving back
    starts decompressing again from the first frame; moving forward skips. There is
    no ``fileno``: the file's own size is the compressed one.
    """

    def __init__(self, f: io.BufferedReader, size: int) -> None:
        self._f, self._size = f, size
        self.name = f.name
        self._pos = 0  # where the reader is
        self._at = 0  # where the decompressor is
        self._zr: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check()
        if whence == io.SEEK_SET:
            base = 0
        elif whence == io.SEEK_CUR:
            base = self._pos
        elif whence == io.SEEK_END:
            base = self._size
        else:
            raise ValueError(f"invalid whence ({whence})")
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def _restart(self) -> None:
        if self._zr is not None:
            self._zr.close()
        self._f.seek(_HEAD.size)
        self._zr = zstandard.ZstdDecompressor().stream_reader(
            self._f, read_across_frames=True, closefd=False
        )
        self._at = 0

    def readinto(self, buffer: Any) -> int:
        self._check()
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        if self._zr is None or self._at > self._pos:
            self._restart()
        zr = self._zr
        while self._at < self._pos:
            skipped = len(zr.read(min(self._pos - self._at, FRAME)))
            if not skipped:
                raise self._short()
            self._at += skipped
        n: int = zr.readinto(view[:want])
        if not n:
            raise self._short()
        self._pos += n
        self._at += n
        return n

    def _short(self) -> OSError:
        return OSError(f"compressed blob {self.name!r} ends before its {self._size} bytes")

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def close(self) -> None:
        if not self.closed:
            try:
                if self._zr is not None:
                    self._zr.close()
            finally:
                self._f.close()
        super().close()
