"""Settlements for one commit, held cheaply: what a shard's reconciliation hands the store.

A shard of 100,000 rows settles in one commit, so its settlements wait somewhere until
the whole stream checks out. :class:`SettlementBatch` keeps the common case, a plain
success (outcome ``succeeded``, no error, result line in the batch's result blob), as
nine integers a row in memory (72 bytes; some 6 once :meth:`SettlementBatch.pack`
compresses them); every other settlement goes to a :class:`DiskSpool`, one small JSON
array a row in a temporary file. Either way the batch
is an ``Iterable[Settlement]`` that yields every settlement in row order (``idx``), so a
store's pages are updated one after the other and any store can take it as it is; the
SQLite store binds the plain successes as they are instead (:meth:`plain`), with no
Python code run per row.

A batch holds each row at most once (the collector settles a row once per commit).
"""

from __future__ import annotations

import heapq
import os
import tempfile
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat
from operator import add
from typing import NamedTuple

import orjson

from batchport.store.base import Settlement

__all__ = ["DiskSpool", "PlainRows", "SettlementBatch", "as_settlements"]

SUCCEEDED = "succeeded"
_WIDTH = 9  # idx, status_code, offset, length and the five token counts


class DiskSpool:
    """Settlements kept on disk (one small JSON array a row) so a 100,000-row shard
    costs no more memory than a 10-row one: 24 bytes a row stay in memory, the row's
    index and where its line is. They come back in row order, not in arrival order."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._where = array("q")  # (row index, offset, length), in arrival order
        self._end = 0
        self.count = 0

    def append(self, settlement: Settlement) -> None:
        line = orjson.dumps(tuple(settlement)) + b"\n"
        self._where.extend((settlement.idx, self._end, len(line)))
        self._file.write(line)
        self._end += len(line)
        self.count += 1

    def __iter__(self) -> Iterator[Settlement]:
        where, read, loads = self._where, os.pread, orjson.loads
        self._file.flush()
        fd = self._file.fileno()
        for k in sorted(range(0, 3 * self.count, 3), key=where.__getitem__):
            yield Settlement(*loads(read(fd, where[k + 2], where[k + 1])))

    def close(self) -> None:
        self._file.close()


class PlainRows(NamedTuple):
    """The plain successes of a batch in row order, each as ``(idx, status_code,
    result_offset, result_length, input_tokens, output_tokens, cached_tokens,
    reasoning_tokens, cache_write_tokens)``; every row's line is in the blob
    ``result_key``."""

    result_key: str
    rows: Iterator[tuple[int, ...]]


class SettlementBatch:
    """Settlements waiting for one commit (see the module docstring).

    ``result_key`` is the blob that plain successes (:meth:`succeeded`) have their line
    in. :attr:`count` counts every settlement added. Close it when done.
    """

    def __init__(self, result_key: str = "") -> None:
        self.result_key = result_key
        self._plain = array("q")  # _WIDTH integers a row, in arrival order
        self._packed: list[bytes] = []  # earlier rows, compressed (see pack)
        self._other: DiskSpool | None = None
        self.count = 0

    def succeeded(
        self,
        idx: int,
        status_code: int,
        offset: int,
        length: int,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        """A plain success: its line is ``length`` bytes at ``offset`` of the result blob."""
        self._plain.extend(
            (idx, status_code, offset, length, input_tokens, output_tokens, cached_tokens,
             reasoning_tokens, cache_write_tokens)
        )  # fmt: skip
        self.count += 1

    def succeeded_rows(self) -> Callable[[tuple[int, ...]], None]:
        """:meth:`succeeded` for a hot loop: a function taking the nine integers as one
        tuple (in :class:`PlainRows` order). It does not count them: add them to
        :attr:`count` when done."""
        return self._plain.extend

    def pack(self) -> None:
        """Compress the plain successes kept so far (to a tenth or so: the integers are
        mostly small). A collector calls it now and then while a shard streams in, so
        that shards reconciled side by side hold little each until their commit."""
        if self._plain:
            self._packed.append(zlib.compress(self._plain.tobytes(), 1))
            del self._plain[:]  # the same array: succeeded_rows() stays valid

    def append(self, settlement: Settlement) -> None:
        """Any settlement (a plain success is kept as :meth:`succeeded` keeps it)."""
        st = settlement
        if (
            st.outcome == SUCCEEDED
            and type(st.status_code) is int
            and st.error_code is None
            and st.error_message is None
            and st.result_key == self.result_key
            and st.result_offset is not None
            and st.result_length is not None
            and st.route is None
        ):
            self.succeeded(
                st.idx, st.status_code, st.result_offset, st.result_length, st.input_tokens,
                st.output_tokens, st.cached_tokens, st.reasoning_tokens, st.cache_write_tokens,
            )  # fmt: skip
            return
        if self._other is None:
            self._other = DiskSpool()
        self._other.append(settlement)
        self.count += 1

    def plain(self) -> PlainRows:
        """The plain successes, in row order (providers return results shuffled)."""
        flat = array("q")
        for packed in self._packed:
            flat.frombytes(zlib.decompress(packed))
        flat.extend(self._plain)  # whole rows either way: the order is sorted out below
        if len(flat) % _WIDTH:
            raise ValueError("a plain success was given without its nine integers")
        # where each row starts in ``flat``, in row order; the rows are read from there
        # as they are used, in C, so sorting costs one list of ints, not a tuple a row
        starts = sorted(range(0, len(flat), _WIDTH), key=flat.__getitem__)
        at = flat.__getitem__
        columns = (map(at, map(add, starts, repeat(c))) for c in range(_WIDTH))
        return PlainRows(self.result_key, zip(*columns, strict=True))

    def others(self) -> Iterator[Settlement]:
        """Every settlement that is not a plain success, in row order."""
        if self._other is not None:
            yield from self._other

    def __iter__(self) -> Iterator[Settlement]:
        """Every settlement, in row order."""
        return heapq.merge(as_settlements(*self.plain()), self.others(), key=_idx)

    def close(self) -> None:
        if self._other is not None:
            self._other.close()


def as_settlements(result_key: str, rows: Iterable[tuple[int, ...]]) -> Iterator[Settlement]:
    """Plain successes (:class:`PlainRows` ``rows``, lines in ``result_key``) as
    :class:`Settlement` s."""
    for i, s, o, n, a, b, c, d, e in rows:
        yield Settlement(i, SUCCEEDED, s, None, None, result_key, o, n, a, b, c, d, e)


def _idx(settlement: Settlement) -> int:
    return settlement.idx
