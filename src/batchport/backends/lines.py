"""Streaming line splitting for result downloads.

Result files reach 200 MB, so nothing here joins a whole file: :func:`aiter_lines`
buffers only the line that straddles a chunk boundary.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import orjson

from batchport.errors import ResultLineError
from batchport.jsonl import UTF8_BOM

__all__ = ["LineSplitter", "aiter_lines", "load_result_line", "result_custom_id"]

#: builds the error for a line that breaks ``rule``: ``bad(rule, message)``
Bad = Callable[[str, str], ResultLineError]


def load_result_line(raw: bytes, bad: Bad) -> dict[str, Any]:
    """A result line's JSON object (a leading BOM tolerated). Raises ``bad(...)`` with
    rule ``result_invalid_json`` or ``result_not_object``."""
    try:
        obj = orjson.loads(raw.removeprefix(UTF8_BOM))
    except orjson.JSONDecodeError as exc:
        raise bad("result_invalid_json", f"line is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise bad("result_not_object", "line is not a JSON object")
    return obj


def result_custom_id(obj: dict[str, Any], bad: Bad) -> str:
    """The line's ``custom_id``; ``bad("result_missing_custom_id", ...)`` when it is
    absent, empty or not a string."""
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise bad("result_missing_custom_id", "custom_id missing or not a string")
    return custom_id


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


async def line_chunks(
    chunks: AsyncGenerator[bytes, None],
) -> AsyncGenerator[tuple[int, list[bytes]], None]:
    """The lines of byte chunks, a chunk's worth at a time, each list with the number of
    its first line (from 1; empty lines are included, so numbers stay true); the last
    line without a terminator comes last. ``chunks`` is closed when this ends."""
    split, count = LineSplitter(), 1
    try:
        async for chunk in chunks:
            lines = split.feed(chunk)
            yield count, lines
            count += len(lines)
        yield count, split.close()
    finally:
        await chunks.aclose()


async def aiter_lines(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """Split byte chunks into lines, streaming (see :class:`LineSplitter`). A line may
    straddle any number of chunks; a final line without a terminator is yielded too."""
    split = LineSplitter()
    async for chunk in chunks:
        for line in split.feed(chunk):
            yield line
    for line in split.close():
        yield line
