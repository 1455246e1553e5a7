"""Streaming JSONL: read batch files line by line, write them atomically.

Files reach 200 MB, so nothing here reads a whole file. Writes go to a temporary file in
the target's directory, are flushed to disk, and then renamed over the target: a re-run
replaces the file instead of appending duplicate rows, and a crash leaves either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from batchport.errors import InputError
from batchport.requests import Request

__all__ = [
    "WriteStats",
    "atomic_writer",
    "iter_lines",
    "open_for_reading",
    "read_requests",
    "write_requests",
]

UTF8_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20  # write in ~1 MiB pieces: far fewer syscalls than one per line


def open_for_reading(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open ``path`` for binary reading, turning OS errors into a clear :class:`InputError`."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError("no such file", path=os.fspath(path), rule="file_not_found") from None
    except IsADirectoryError:
        raise InputError(
            "is a directory, not a file", path=os.fspath(path), rule="file_not_found"
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read: {exc.strerror}", path=os.fspath(path), rule="file_unreadable"
        ) from None


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw)`` for each line, 1-based, without the line ending.

    ``raw`` keeps everything else (a BOM, inner whitespace, invalid UTF-8). Only one
    line is held in memory at a time.

    Raises:
        InputError: the file is missing or unreadable (rule ``file_not_found`` /
            ``file_unreadable``).
    """
    with open_for_reading(path) as handle:
        for number, raw in enumerate(handle, 1):
            if raw.endswith(b"\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            yield number, raw


def read_requests(path: str | os.PathLike[str]) -> Iterator[Request]:
    """Stream the requests of a batch file.

    Blank lines and a leading UTF-8 BOM are skipped (use :func:`batchport.validate_file`
    to find what a provider would reject).

    Raises:
        InputError: a line is not JSON or not a request; names the path, line and rule.
    """
    name = os.fspath(path)
    for number, raw in iter_lines(path):
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]
        if not raw.strip():
            continue
        yield Request.from_json(raw, path=name, line=number)


@dataclass(frozen=True, slots=True)
class WriteStats:
    """What :func:`write_requests` wrote: request count, size in bytes, SHA-256 of the file."""

    path: Path
    requests: int
    bytes: int
    sha256: str


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a binary file that replaces ``path`` only when the block exits cleanly.

    The data goes to a temporary file beside ``path``; on success it is flushed,
    fsync'd and renamed over ``path`` (``os.replace``). On an exception the temporary
    file is removed and ``path`` is left as it was. The result gets the usual mode
    for new files (0666 minus the umask).
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~_current_umask())
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_requests(path: str | os.PathLike[str], requests: Iterable[Request]) -> WriteStats:
    """Write ``requests`` as a JSONL batch file, atomically replacing ``path``.

    Accepts any iterable of :class:`Request`, including a :class:`~batchport.BatchBuilder`.

    Raises:
        InputError: a request body is not JSON-serializable (nothing is written).
    """
    digest = hashlib.sha256()
    count = size = 0
    pending: list[bytes] = []
    pending_size = 0
    with atomic_writer(path) as handle:
        for request in requests:
            line = request.to_json() + b"\n"
            pending.append(line)
            pending_size += len(line)
            count += 1
            if pending_size >= _CHUNK:
                size += _flush(handle, pending, digest)
                pending, pending_size = [], 0
        size += _flush(handle, pending, digest)
    return WriteStats(path=Path(path), requests=count, bytes=size, sha256=digest.hexdigest())


def _flush(handle: IO[bytes], pending: list[bytes], digest: hashlib._Hash) -> int:
    chunk = b"".join(pending)
    handle.write(chunk)
    digest.update(chunk)
    return len(chunk)
