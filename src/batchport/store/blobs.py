"""Blobs: where shard inputs and downloaded results live, behind one small interface.

The runner names blobs by key (``<run id>/shards/s0001.jsonl``) and never by path.
:class:`LocalBlobs` keeps them under a directory; another implementation (an object
store) can stand in without the runner knowing. Writes are atomic: a blob appears
whole, under its key, only when its writer closes without error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = ["BlobStore", "LocalBlobs"]


class BlobStore(Protocol):
    def open(self, key: str) -> BinaryIO:
        """Open a blob for reading (seekable). Raises ``FileNotFoundError``."""
        ...

    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A binary writer; the blob replaces ``key`` only when the block ends cleanly."""
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
        return self.path(key).open("rb")

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        dest = self.path(key)
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        try:
            # prompts and answers: readable by the owner only
            with os.fdopen(os.open(part, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600), "wb") as f:
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
