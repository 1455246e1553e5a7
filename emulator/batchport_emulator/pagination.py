"""Cursor pagination over id-ordered collections, as the OpenAI list endpoints do it.

Pages are requested with ``after=<id>`` and ``limit``; the answer carries
``has_more``, ``first_id`` and ``last_id``. Query values arrive as strings and
are checked here, so bad values are 400s rather than surprises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from batchport_emulator.errors import ApiError, invalid_value

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool


def parse_limit(query: Mapping[str, str], *, default: int, maximum: int) -> int:
    """``limit`` from a query: an integer in ``1..maximum``; raises :class:`ApiError` 400."""
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400,
            f"Invalid 'limit': expected an integer, but got '{raw[:64]}' instead.",
            param="limit",
            code="invalid_type",
        ) from None
    if not 1 <= value <= maximum:
        raise ApiError(
            400,
            f"Invalid 'limit': integer must be between 1 and {maximum}, got {value}.",
            param="limit",
            code="invalid_value",
        )
    return value


def parse_order(query: Mapping[str, str]) -> str:
    raw = query.get("order") or "desc"
    if raw not in ("asc", "desc"):
        raise invalid_value("order", raw[:64], ["asc", "desc"])
    return raw


def paginate(
    ordered: Sequence[T],
    *,
    after: str | None,
    limit: int,
    position_of: Callable[[str], int | None],
    position: Callable[[T], int],
    descending: bool,
) -> Page[T]:
    """Take up to ``limit`` items that come after the cursor ``after``.

    ``ordered`` is sorted by ``position`` (ascending). ``position_of`` maps a
    cursor id (possibly of a deleted item) to its position, or ``None`` when the
    id never existed, which is a 400.
    """
    items = list(reversed(ordered)) if descending else list(ordered)
    if after:
        pos = position_of(after)
        if pos is None:
            raise ApiError(
                400,
                f"Invalid 'after': no object with id '{after[:128]}'.",
                param="after",
                code="invalid_value",
            )
        if descending:
            items = [item for item in items if position(item) < pos]
        else:
            items = [item for item in items if position(item) > pos]
    page = items[:limit]
    return Page(items=page, has_more=len(items) > limit)
