"""Streaming line splitting for result downloads.

Result files reach 200 MB, so nothing here joins a whole file: :func:`aiter_lines`
buffers only the line that straddles a chunk boundary.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

__all__ = ["aiter_lines"]


async def aiter_lines(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """Split byte chunks into lines (without ``\\n`` or ``\\r\\n``), streaming.

    A line may straddle any number of chunks; only the unfinished line is buffered.
    A final line without a terminator is yielded too. Empty lines are yielded as ``b""``
    (callers decide whether they matter, and count them for line numbers).
    """
    pending: list[bytes] = []
    async for chunk in chunks:
        start = 0
        while (nl := chunk.find(b"\n", start)) >= 0:
            piece = chunk[start:nl]
            if pending:
                pending.append(piece)
                piece = b"".join(pending)
                pending.clear()
            yield piece[:-1] if piece.endswith(b"\r") else piece
            start = nl + 1
        if start < len(chunk):
            pending.append(chunk[start:])
    if pending:
        last = b"".join(pending)
        yield last[:-1] if last.endswith(b"\r") else last
