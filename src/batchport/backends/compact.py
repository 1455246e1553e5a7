"""Plain successes as tuples: an optional, cheaper form of :meth:`Backend.results`.

Most rows of most shards are plain successes: the request ran, answered 2xx, and its
body says nothing but "done". Building a :class:`~batchport.backends.models.ResultRow`
and its :class:`~batchport.backends.models.Usage` for each costs more than judging it.
A backend that can tell such a row cheaply offers :meth:`CompactResults.compact_results`:
the same rows in the same order as ``results``, a list at a time (the rows of one
downloaded chunk, say), except that each plain success comes as a :class:`PlainRow`
tuple. A line that cannot be read raises once the rows before it were yielded, as
``results`` would. The runner reads whichever form it gets; a backend without the method
is read through ``results``.

A :class:`PlainRow` stands for ``ResultRow(custom_id, Outcome.SUCCEEDED, False, None,
status_code, body, text, Usage(*usage) if usage else None, raw, body_path, source,
line)`` (see :func:`as_result_row`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from batchport.backends.models import Job, Outcome, ResultRow, Usage

__all__ = ["CompactResults", "PlainRow", "as_result_row"]


class PlainRow(NamedTuple):
    """A plain success (see the module docstring). ``usage`` holds the input, output,
    cached and reasoning token counts, or is None when the row reports no usage."""

    custom_id: str
    status_code: int
    text: str | None
    body: Mapping[str, Any]
    usage: tuple[int, int, int, int] | None
    raw: bytes
    body_path: tuple[str, ...]
    source: str
    line: int | None


@runtime_checkable
class CompactResults(Protocol):
    def compact_results(self, job: Job) -> AsyncIterator[list[ResultRow | PlainRow]]:
        """:meth:`Backend.results` a list at a time, with plain successes as
        :class:`PlainRow` s."""
        ...


def as_result_row(row: PlainRow) -> ResultRow:
    """The :class:`ResultRow` a plain row stands for."""
    usage = Usage(*row.usage) if row.usage is not None else None
    return ResultRow(
        row.custom_id, Outcome.SUCCEEDED, False, None, row.status_code, row.body, row.text,
        usage, row.raw, row.body_path, row.source, row.line,
    )  # fmt: skip
