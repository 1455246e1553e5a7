"""Result blobs: a shard's result lines, each compressed on its own, read back by range.

The collector writes one record per result (the runner's own JSON line, see
:func:`batchport.runner.collect.encode_result`) and the ledger keeps each record's
``(offset, length)``; readers fetch records by that range in any order. A record is
compressed alone, so reading one never reads another, with a dictionary trained on the
blob's own first lines (results of one shard look much alike: most of a line is the
provider's keys and ids), which brings a ~1 KB chat result to ~150 bytes.

Layout of a blob::

    line 1 .. line N          raw JSON lines, as written before there was a dictionary
    record N+1 ..             one zstd frame each (content size, no checksum, no dict id),
                              compressed with the dictionary; or, where that would not
                              be shorter, the raw line
    dictionary                the zstd dictionary, trained on lines 1 .. N
    trailer (28 bytes)        a zstd skippable frame: u32 magic 0x184D2A5B, u32 size 20,
                              b"BPR1", u16 version (1), u16 flags (0),
                              u64 dictionary offset, u32 dictionary length
                              (little-endian)

``N`` is :data:`RAW_LINES`, or fewer lines once they hold :data:`RAW_BYTES` (and at least
:data:`MIN_SAMPLES`). A blob of at most ``N`` lines, or one whose training failed, has
no dictionary and no trailer: it is plain JSONL, as every result blob was before this
format, and as realtime results still are.

A record is compressed exactly when it begins with the zstd frame magic
(``28 B5 2F FD``); anything else is a raw line (a JSON line begins with ``{``, and no
UTF-8 text begins with those bytes). So plain blobs read as they always did, and the
dictionary is loaded only when a compressed record is first read.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import IO

import zstandard

from batchport.errors import DamagedBlobError

__all__ = [
    "CHUNK",
    "DICT_SIZE",
    "FRAME_MAGIC",
    "RAW_LINES",
    "BlobRecords",
    "DamagedBlobError",
    "RecordWriter",
]

#: lines written raw before a dictionary is trained on them (measured: 100-500 lines of
#: chat results give the same ratio, ~7x; 200 trains in ~5 ms)
RAW_LINES = 200
#: raw lines stop early once they hold this many bytes (long lines train slower)...
RAW_BYTES = 1 << 20
#: ...but not before this many: fewer samples train a poor dictionary, or none
MIN_SAMPLES = 32
#: the dictionary's size (16-64 KiB measured alike; it is stored once per blob)
DICT_SIZE = 32 * 1024
#: zstd level (with the dictionary, 2 costs what 1 does and saves ~1.5%; 3 costs more)
LEVEL = 2
#: records are written to the blob some 256 KiB at a time
CHUNK = 1 << 18
FRAME_MAGIC = b"\x28\xb5\x2f\xfd"
#: whether new blobs are compressed at all (tests switch it off to compare)
COMPRESS = True

_SKIPPABLE = 0x184D2A5B
_TAG = b"BPR1"
_VERSION = 1
_TRAILER = struct.Struct("<II4sHHQI")
_PAYLOAD = _TRAILER.size - 8


class RecordWriter:
    """Writes a result blob's records to ``out``: :meth:`add` each line, then
    :meth:`close` (which writes what is still gathered, and the dictionary).

    ``add`` returns the record's length; records follow one another from offset 0, so
    the caller's running sum of lengths is each record's offset. Writes go to ``out``
    :data:`CHUNK` bytes or so at a time, and ``flushed`` is called after each of them
    (not after the last, made by :meth:`close`).
    """

    __slots__ = (
        "_chunk",
        "_compress",
        "_dict",
        "_flushed",
        "_gathered",
        "_out",
        "_parts",
        "_raw_lines",
        "_sample",
        "_sampled",
        "_written",
    )

    def __init__(
        self,
        out: IO[bytes],
        *,
        flushed: Callable[[], object] | None = None,
        compress: bool | None = None,
        raw_lines: int | None = None,
        chunk: int = CHUNK,
    ) -> None:
        self._out = out
        self._flushed = flushed
        self._chunk = chunk
        self._raw_lines = RAW_LINES if raw_lines is None else raw_lines
        on = COMPRESS if compress is None else compress
        # the raw lines so far, to train on (None: no dictionary is coming)
        self._sample: list[bytes] | None = [] if on else None
        self._sampled = 0
        self._compress: Callable[[bytes], bytes] | None = None
        self._dict = b""
        self._parts: list[bytes] = []
        self._gathered = 0
        self._written = 0

    @property
    def compressed(self) -> bool:
        """Whether records after the first lines are compressed (a dictionary exists)."""
        return self._compress is not None

    def add(self, line: bytes) -> int:
        """Write one line as the next record; returns the record's length in the blob."""
        if self._compress is None and self._sample is not None:
            self._learn(line)
        compress = self._compress
        if compress is None:
            if line[:4] == FRAME_MAGIC:
                raise ValueError("a raw record may not begin with the zstd frame magic")
            rec = line
        else:
            rec = compress(line)
            if len(rec) >= len(line) and line[:4] != FRAME_MAGIC:
                rec = line  # nothing gained: kept raw (it cannot pass for a frame)
        n = len(rec)
        self._parts.append(rec)
        self._gathered += n
        if self._gathered >= self._chunk:  # one write call per record costs more than a copy
            self._write()
            if self._flushed is not None:
                self._flushed()
        return n

    def close(self) -> None:
        """Write what is gathered, then the dictionary and trailer if records used it."""
        if self._compress is not None:
            at = self._written + self._gathered
            trailer = _TRAILER.pack(_SKIPPABLE, _PAYLOAD, _TAG, _VERSION, 0, at, len(self._dict))
            self._parts += (self._dict, trailer)
            self._gathered += len(self._dict) + len(trailer)
        self._write()

    def _write(self) -> None:
        self._out.write(b"".join(self._parts))
        self._parts.clear()
        self._written += self._gathered
        self._gathered = 0

    def _learn(self, line: bytes) -> None:
        """Before there is a dictionary: keep the line (written raw) to train on; once
        there are enough lines, train, and this line is the first one compressed."""
        sample = self._sample
        assert sample is not None
        n = len(sample)
        if n >= self._raw_lines or (self._sampled >= RAW_BYTES and n >= MIN_SAMPLES):
            self._train(sample)
        else:
            sample.append(line)
            self._sampled += len(line)

    def _train(self, sample: list[bytes]) -> None:
        self._sample = None
        samples: list[bytes | bytearray | memoryview[int]] = [*sample]
        try:
            # k and d fixed: left to zstd, it tries many, several times slower, no better
            trained = zstandard.train_dictionary(DICT_SIZE, samples, k=1024, d=8)
            data = trained.as_bytes()
            cdict = zstandard.ZstdCompressionDict(data)
            cdict.precompute_compress(level=LEVEL)
        except zstandard.ZstdError:  # too few or too small samples: the blob stays plain
            return
        self._dict = data
        self._compress = zstandard.ZstdCompressor(
            level=LEVEL,
            dict_data=cdict,
            write_checksum=False,
            write_content_size=True,
            write_dict_id=False,
        ).compress


class BlobRecords:
    """Reads records of one result blob (open as ``f``, named ``key``) by range."""

    __slots__ = ("_decompress", "_f", "key")

    def __init__(self, f: IO[bytes], key: str) -> None:
        self._f = f
        self.key = key
        self._decompress: Callable[[bytes], bytes] | None = None

    def read(self, offset: int, length: int) -> bytes:
        """The line stored at ``offset`` (``length`` bytes in the blob), decompressed
        if it was compressed. Raises :class:`DamagedBlobError` if it cannot be."""
        f = self._f
        f.seek(offset)
        data = f.read(length)
        if len(data) != length:
            raise self._damaged(
                f"it ends before bytes {offset}-{offset + length} (cut short after it was written?)"
            )
        if data[:4] != FRAME_MAGIC:
            return data
        decompress = self._decompress or self._load()
        try:
            return decompress(data)
        except zstandard.ZstdError as exc:
            raise self._damaged(
                f"the record at byte {offset} does not decompress ({exc})"
            ) from None

    def close(self) -> None:
        self._f.close()

    def _load(self) -> Callable[[bytes], bytes]:
        """The dictionary, from the trailer at the blob's end."""
        f = self._f
        size = f.seek(0, 2)
        end = size - _TRAILER.size
        f.seek(max(0, end))
        tail = f.read(_TRAILER.size)
        if len(tail) != _TRAILER.size:
            raise self._damaged("it holds compressed records but no dictionary (cut short?)")
        magic, payload, tag, version, _, at, n = _TRAILER.unpack(tail)
        if magic != _SKIPPABLE or payload != _PAYLOAD or tag != _TAG:
            raise self._damaged("it holds compressed records but no dictionary (cut short?)")
        if version != _VERSION:
            raise self._damaged(f"format version {version} is newer than this batchport reads")
        if at + n != end:
            raise self._damaged("its dictionary does not end where its trailer begins")
        f.seek(at)
        try:
            ddict = zstandard.ZstdCompressionDict(f.read(n))
            decompress = zstandard.ZstdDecompressor(dict_data=ddict).decompress
        except zstandard.ZstdError as exc:
            raise self._damaged(f"its dictionary cannot be loaded ({exc})") from None
        self._decompress = decompress
        return decompress

    def _damaged(self, why: str) -> DamagedBlobError:
        return DamagedBlobError(f"result blob {self.key!r} is damaged: {why}")
