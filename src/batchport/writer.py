"""A :class:`~batchport.BatchBuilder` that writes each request to a file as it is built.

``BatchBuilder`` keeps every request in memory (about 0.8 KB each), which is what lets
it be iterated, grouped and written in several ways. ``BatchWriter`` has the same call
shapes (``responses.parse``, ``chat.completions.create``, ``messages.create``,
``models.generate_content``...) but writes each request to its JSONL file at once and
keeps only what it needs to refuse a duplicate custom_id at the call that makes it (a
64-bit hash per id, checked against the file itself when two hashes meet; generated
ids whole, since identical requests repeat them) and the structured-output types of
``parse`` calls::

    with bp.BatchWriter("reviews.jsonl") as reqs:
        for i, text in enumerate(reviews):
            reqs.responses.parse(custom_id=f"r{i}", model="gpt-4o-mini",
                                 input=text, text_format=Sentiment)
    run = await bp.run(reqs, backend="openai")   # streams the file; parsed results too

The file replaces ``path`` atomically when the writer closes (nothing is left on an
exception). A closed writer is a path (``os.fspath(writer)``), so ``bp.run``,
``bp.plan`` and ``bp.validate_file`` stream it, and a run it started can be prepared
again from it after a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import orjson

from batchport.builder import BatchBuilder, GroupKey
from batchport.errors import InputError
from batchport.jsonl import WriteStats, atomic_writer, read_requests
from batchport.requests import Request

__all__ = ["BatchWriter"]

_FLUSH = 1 << 20


class _Ids:
    """The custom_ids written so far, in little memory: a hash per id. Two ids whose
    hashes meet are told apart by reading the file (``written``); ids known to repeat
    (generated ones, or a hash seen twice) are kept whole."""

    def __init__(self, written: Callable[[str], bool]) -> None:
        self._hashes: set[int] = set()
        self._whole: set[str] = set()
        self._written = written

    def __contains__(self, custom_id: object) -> bool:
        if not isinstance(custom_id, str) or hash(custom_id) not in self._hashes:
            return False
        return custom_id in self._whole or self._written(custom_id)

    def add(self, custom_id: str, *, whole: bool = False) -> None:
        h = hash(custom_id)
        if whole or h in self._hashes:
            self._whole.add(custom_id)
        self._hashes.add(h)


class BatchWriter(BatchBuilder, os.PathLike[str]):
    """Build requests straight into the JSONL file ``path`` (see the module docstring).

    Use as a context manager, or call :meth:`close`. Iterating a closed writer reads the
    file back; grouping and :meth:`write` are a :class:`BatchBuilder`'s (use
    ``batchport plan`` or :func:`batchport.plan` to see how a run will split the file).
    """

    def __init__(self, path: str | os.PathLike[str], *, id_prefix: str = "req") -> None:
        super().__init__(id_prefix=id_prefix)
        self._ids = _Ids(self._in_file)  # type: ignore[assignment]
        self._generated = False
        self.path = Path(path)
        self._stack = contextlib.ExitStack()
        self._out: IO[bytes] | None = self._stack.enter_context(atomic_writer(self.path))
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._count = 0
        self._bytes = 0
        self._digest = hashlib.sha256()

    # -- adding ---------------------------------------------------------------------

    def add(self, request: Request, *, output_type: type | None = None) -> Request:
        """Write ``request`` to the file (see :meth:`BatchBuilder.add`).

        Raises:
            InputError: the writer is closed, or ``request.custom_id`` is taken.
        """
        if self._out is None:
            raise InputError(
                f"the BatchWriter for {self.path} is closed; open a new one to add more",
                path=str(self.path),
                rule="writer_closed",
            )
        if request.custom_id in self._ids:
            raise InputError(
                f"duplicate custom_id {request.custom_id!r}: each request in a batch needs "
                "its own id",
                rule="duplicate_custom_id",
            )
        line = request.to_json() + b"\n"
        self._ids.add(request.custom_id, whole=self._generated)  # type: ignore[call-arg]
        if output_type is not None:
            self._output_types[request.custom_id] = output_type
        self._pending.append(line)
        self._pending_bytes += len(line)
        self._count += 1
        if self._pending_bytes >= _FLUSH:
            self._flush()
        return request

    def _generate_id(self, endpoint: Any, body: dict[str, Any], call: str) -> str:
        self._generated = True  # the id the next add() sees was made here
        return super()._generate_id(endpoint, body, call)

    def _build(self, *args: Any, **kwargs: Any) -> Request:
        try:
            return super()._build(*args, **kwargs)
        finally:
            self._generated = False

    def _in_file(self, custom_id: str) -> bool:
        """Whether a request with ``custom_id`` was written (a rare, slow check: the
        file so far is read back)."""
        self._flush()
        if self._out is None:
            return False
        self._out.flush()
        fd, offset, tail = self._out.fileno(), 0, b""
        needle = orjson.dumps(custom_id)
        while chunk := os.pread(fd, 1 << 20, offset):
            offset += len(chunk)
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                if needle in line and orjson.loads(line).get("custom_id") == custom_id:
                    return True
        return False

    def _flush(self) -> None:
        if self._out is not None and self._pending:
            chunk = b"".join(self._pending)
            self._out.write(chunk)
            self._digest.update(chunk)
            self._bytes += self._pending_bytes
            self._pending, self._pending_bytes = [], 0

    # -- closing --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._out is None

    def close(self) -> WriteStats:
        """Finish the file (flush, fsync, rename over ``path``). Safe to call twice."""
        if self._out is not None:
            if not self._count:
                self.abort()
                raise InputError(
                    "the writer holds no requests; nothing was written",
                    path=str(self.path),
                    rule="empty_file",
                )
            self._flush()
            self._out = None
            self._stack.close()
            self._ids = _Ids(self._in_file)  # type: ignore[assignment]  # free the memory
            self._repeats = {}
        return WriteStats(
            path=self.path,
            requests=self._count,
            bytes=self._bytes,
            sha256=self._digest.hexdigest(),
        )

    def abort(self) -> None:
        """Stop without writing: ``path`` is left as it was."""
        if self._out is not None:
            self._out = None
            self._pending = []
            err = InputError("aborted", rule="aborted")
            self._stack.__exit__(type(err), err, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()

    def __fspath__(self) -> str:
        """The finished file's path. Raises :class:`InputError` while still open."""
        if self._out is not None:
            raise InputError(
                f"the BatchWriter for {self.path} is still open: close it (or leave its "
                "with-block) before running it",
                path=str(self.path),
                rule="writer_open",
            )
        return str(self.path)

    # -- reading --------------------------------------------------------------------

    def __iter__(self) -> Iterator[Request]:
        return read_requests(os.fspath(self))

    def __len__(self) -> int:
        return self._count

    def __contains__(self, custom_id: object) -> bool:
        if self._out is None:
            raise InputError(
                "a closed BatchWriter no longer holds its ids; read the file",
                rule="writer_closed",
            )
        return custom_id in self._ids

    def __repr__(self) -> str:
        state = "closed" if self._out is None else "open"
        return f"<BatchWriter {self._count} requests to {str(self.path)!r} ({state})>"

    def groups(self) -> dict[GroupKey, list[Request]]:
        raise InputError(
            "a BatchWriter does not keep its requests; `batchport plan FILE` shows the groups",
            rule="writer_streams",
        )

    def write(self, path: str | Path) -> WriteStats:
        raise InputError(
            f"a BatchWriter already wrote its requests to {self.path}", rule="writer_streams"
        )

    def write_groups(
        self, directory: str | Path, *, stem: str = "batch"
    ) -> dict[GroupKey, WriteStats]:
        raise InputError(
            "a BatchWriter does not keep its requests to regroup; build with BatchBuilder "
            "to write one file per group",
            rule="writer_streams",
        )
