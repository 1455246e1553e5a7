"""Compressed blobs: zstd frames on disk, the raw bytes to every reader."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import zstandard
from httpx2._utils import peek_filelike_length
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchport.store import LocalBlobs, RunStore
from batchport.store import blobs as blobs_module

KEY = "r/shards/s0000.jsonl"


def _lines(n: int) -> bytes:
    return b"".join(
        b'{"custom_id": "c%05d", "body": {"messages": [{"role": "user", "content": "row %d"}]}}\n'
        % (i, i)
        for i in range(n)
    )


def _write(blobs: LocalBlobs, data: bytes, chunks: list[int], key: str = KEY) -> None:
    with blobs.writer(key, compressed=True) as out:
        start, i = 0, 0
        while start < len(data):
            size = chunks[i % len(chunks)] if chunks else len(data)
            out.write(data[start : start + size])
            start, i = start + size, i + 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=3000),
        st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"") + b"\n")).map(b"".join),
    ),
    chunks=st.lists(st.integers(1, 700), max_size=6),
    frame=st.sampled_from([1, 5, 64, 1000, blobs_module.FRAME]),
    seeks=st.lists(
        st.tuples(st.integers(-50, 3100), st.sampled_from([0, 1, 2]), st.integers(-1, 900)),
        max_size=8,
    ),
)
def test_any_bytes_written_in_any_chunking_read_back_the_same(
    data: bytes,
    chunks: list[int],
    frame: int,
    seeks: list[tuple[int, int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as root, mock.patch.object(blobs_module, "FRAME", frame):
        blobs = LocalBlobs(root)
        _write(blobs, data, chunks)
        with blobs.open(KEY) as f:
            assert f.read() == data
            assert f.tell() == len(data)
            assert f.read() == b""
            assert f.seek(0) == 0
            assert list(f) == list(io.BytesIO(data))
            f.seek(0)
            got = []
            while line := f.readline():
                got.append(line)
            assert got == list(io.BytesIO(data))
            f.seek(0)
            buf = bytearray(97)
            read = bytearray()
            while n := f.readinto(buf):
                read += buf[:n]
            assert read == data
            assert f.seek(0, io.SEEK_END) == len(data)
            # every move against the same moves on an in-memory copy
            model = io.BytesIO(data)
            model.seek(0, io.SEEK_END)
            for offset, whence, n in seeks:
                base = {io.SEEK_SET: 0, io.SEEK_CUR: model.tell(), io.SEEK_END: len(data)}
                if base[whence] + offset < 0:
                    with pytest.raises(ValueError, match="negative seek"):
                        f.seek(offset, whence)
                else:
                    assert f.seek(offset, whence) == model.seek(offset, whence)
                assert f.tell() == model.tell()
                assert f.read(n) == model.read(n)
                assert f.tell() == model.tell()


def test_on_disk_the_blob_is_zstd_frames_that_zstd_reads(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    data = _lines(60_000)  # several frames
    _write(blobs, data, [1000])
    path = blobs.path(KEY)
    assert path.stat().st_size < len(data) // 10
    assert path.stat().st_mode & 0o777 == 0o600
    with path.open("rb") as f:
        reader = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
        assert reader.read() == data
    zstd = shutil.which("zstd")
    if zstd is not None:
        done = subprocess.run([zstd, "-dc", str(path)], capture_output=True, check=True)
        assert done.stdout == data


def test_the_end_is_the_raw_size_and_there_is_no_fileno(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    data = _lines(5000)
    _write(blobs, data, [4096])
    with blobs.open(KEY) as f:
        # what an HTTP client computes a multipart upload's Content-Length from
        assert peek_filelike_length(f) == len(data)
        assert f.tell() == 0
        with pytest.raises(io.UnsupportedOperation):
            f.fileno()
        assert f.readable() and f.seekable() and not f.writable()
        assert f.read() == data
    assert f.closed
    with pytest.raises(ValueError, match="closed"):
        f.read()


def test_an_empty_compressed_blob_reads_as_empty(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    _write(blobs, b"", [])
    with blobs.open(KEY) as f:
        assert f.read() == b""
        assert f.seek(0, io.SEEK_END) == 0
        assert list(f) == []


def test_plain_blobs_still_open_as_their_files(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    data = _lines(100)
    with blobs.writer("r/results/s0000.jsonl") as out:
        out.write(data)
    # a blob of an older store, put there before compression existed
    old = blobs.path("r/shards/s0001.jsonl")
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(data)
    # plain bytes that merely begin like a skippable frame are plain too
    odd = blobs.path("r/shards/s0002.jsonl")
    odd.write_bytes(b"\x5b\x2a\x4d\x18" + b"\x00" * 30)
    for key, want in [
        ("r/results/s0000.jsonl", data),
        ("r/shards/s0001.jsonl", data),
        ("r/shards/s0002.jsonl", odd.read_bytes()),
    ]:
        with blobs.open(key) as f:
            assert os.fstat(f.fileno()).st_size == len(want)
            assert f.read() == want


def _write_and_break(blobs: LocalBlobs, key: str) -> None:
    with blobs.writer(key, compressed=True) as out:
        out.write(_lines(30_000))  # more than a frame: some of it reached the disk
        out.write(b"half a line")
        raise RuntimeError("preparation broke off")


def test_a_failed_compressed_writer_leaves_no_blob_and_the_old_one(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    _write(blobs, b"old\n", [])
    with pytest.raises(RuntimeError, match="broke off"):
        _write_and_break(blobs, KEY)
    with blobs.open(KEY) as f:
        assert f.read() == b"old\n"
    with pytest.raises(RuntimeError, match="broke off"):
        _write_and_break(blobs, "r/shards/never.jsonl")
    assert not blobs.exists("r/shards/never.jsonl")
    assert sorted(p.name for p in blobs.path("r/shards").iterdir()) == ["s0000.jsonl"]


_KILLED = """
import os, sys
from batchport.store import LocalBlobs
with LocalBlobs(sys.argv[1]).writer("r/shards/s0000.jsonl", compressed=True) as out:
    out.write(b'{"custom_id": "x"}\\n' * 200_000)
    out.flush()
    os._exit(3)
"""


def test_a_process_killed_mid_write_leaves_no_blob(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _KILLED, str(tmp_path)], check=False)
    assert done.returncode == 3
    blobs = LocalBlobs(tmp_path)
    assert blobs.path(KEY + ".part").exists()  # what it left is not the blob
    assert not blobs.exists(KEY)
    with pytest.raises(FileNotFoundError):
        blobs.open(KEY)


def test_every_store_takes_compressed_blobs_and_gives_back_the_bytes(store: RunStore) -> None:
    data = _lines(20_000)
    with store.blobs.writer(KEY, compressed=True) as out:
        for start in range(0, len(data), 70_001):
            out.write(data[start : start + 70_001])
    with store.blobs.open(KEY) as f:
        assert list(f) == list(io.BytesIO(data))
        assert f.seek(0, io.SEEK_END) == len(data)
        f.seek(123_457)
        assert f.read(1000) == data[123_457:124_457]
    store.blobs.delete_prefix("r")
    assert not store.blobs.exists(KEY)
