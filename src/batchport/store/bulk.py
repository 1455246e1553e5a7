"""Settlements for one commit, held cheaply: what a shard's reconciliation hands the store.

A shard of 100,000 rows settles in one commit, so its settlements wait somewhere until
the whole stream checks out. :class:`SettlementBatch` keeps the common case, a plain
success (outcome ``succeeded``, no error, result line in the batch's result blob), as
nine integers a row in memory (72 bytes); every other settlement goes to a
:class:`DiskSpool`, one small JSON array a row in a temporary file. Either way the batch
is an ``Iterable[Settlement]`` that yields every settlement in row order (``idx``), so a
store's pages are updated one after the other and any store can take it as it is; the
SQLite store reads the plain successes column by column instead (:meth:`plain`), with no
Python object made per row.

A batch holds each row at most once (the collector settles a row once per commit).
"""

from __future__ import annotations

import heapq
import os
import tempfile
from array import array
from collections.abc import Iterator
from typing import NamedTuple

import orjson

from batchport.store.base import Settlement

__all__ = ["DiskSpool", "PlainColumns", "SettlementBatch"]

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


class PlainColumns(NamedTuple):
    """The plain successes of a batch, one array per column, in row order; every row's
    line is in the blob ``result_key``."""

    result_key: str
    idx: array[int]
    status_code: array[int]
    result_offset: array[int]
    result_length: array[int]
    input_tokens: array[int]
    output_tokens: array[int]
    cached_tokens: array[int]
    reasoning_tokens: array[int]
    cache_write_tokens: array[int]


class SettlementBatch:
    """Settlements waiting for one commit (see the module docstring).

    ``result_key`` is the blob that plain successes (:meth:`succeeded`) have their line
    in. :attr:`count` counts every settlement added. Close it when done.
    """

    def __init__(self, result_key: str = "") -> None:
        self.result_key = result_key
        self._plain = array("q")  # _WIDTH integers a row, in arrival order
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

    def plain(self) -> PlainColumns:
        """The plain successes, column by column, in row order."""
        rows = self._plain
        cols = [rows[c::_WIDTH] for c in range(_WIDTH)]
        order = sorted(range(len(cols[0])), key=cols[0].__getitem__)
        if order != list(range(len(order))):  # providers return results shuffled
            cols = [array("q", map(col.__getitem__, order)) for col in cols]
        return PlainColumns(self.result_key, *cols)

    def others(self) -> Iterator[Settlement]:
        """Every settlement that is not a plain success, in row order."""
        if self._other is not None:
            yield from self._other

    def __iter__(self) -> Iterator[Settlement]:
        """Every settlement, in row order."""
        cols = self.plain()
        key = cols.result_key
        plain = (
            Settlement(i, SUCCEEDED, s, None, None, key, o, n, a, b, c, d, e)
            for i, s, o, n, a, b, c, d, e in zip(*cols[1:], strict=True)
        )
        return heapq.merge(plain, self.others(), key=_idx)

    def close(self) -> None:
        if self._other is not None:
            self._other.close()


def _idx(settlement: Settlement) -> int:
    return settlement.idx
