"""Streaming line splitting for result downloads.

Result files reach 200 MB, so nothing here joins a whole file: :func:`aiter_lines`
buffers only the line that straddles a chunk boundary.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

__all__ = ["LineSplitter", "aiter_lines"]


class LineSplitter:
    """Turns byte chunks into complete lines (without ``\n`` or ``\r\n``).

    :meth:`feed` returns the lines a chunk completes; :meth:`close` the last line when
    the data did not end with a terminator. Only the unfinished line is buffered.
    Empty lines are returned as ``b""`` (callers count them for line numbers).
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if lines and self._pending:
            self._pending.append(lines[0])
            lines[0] = b"".join(self._pending)
            self._pending.clear()
        if tail:
            self._pending.append(tail)
        return [line[:-1] if line.endswith(b"\r") else line for line in lines]

    def close(self) -> list[bytes]:
        if not self._pending:
            return []
        last = b"".join(self._pending)
        self._pending.clear()
        return [last[:-1] if last.endswith(b"\r") else last]


async def aiter_lines(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """Split byte chunks into lines, streaming (see :class:`LineSplitter`). A line may
    straddle any number of chunks; a final line without a terminator is yielded too."""
    split = LineSplitter()
    async for chunk in chunks:
        for line in split.feed(chunk):
            yield line
    for line in split.close():
        yield line
