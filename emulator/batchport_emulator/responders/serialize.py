"""JSON bytes of answers that may be huge, without holding the event loop.

A 2048-input, 3072-dimension embeddings answer is about 130 MB of JSON, and one
``orjson.dumps`` call on it holds the GIL for a quarter of a second, even on a
worker thread, and so does joining 130 MB of pieces into one ``bytes``.
:func:`dumps_pieces` serializes the ``data`` list item by item and hands back the
pieces, to be written one by one, so a thread running it lets the event loop in
between items. :func:`body_weight` tells callers when that is worth doing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import orjson

__all__ = [
    "HEAVY_WEIGHT",
    "body_weight",
    "dismantle",
    "dumps_body",
    "dumps_pieces",
    "dumps_spliced",
]

#: weight (about one unit per JSON number or 4 base64 characters) above which an
#: answer is serialized off the event loop, piece by piece
HEAVY_WEIGHT = 65_536
_SENTINEL = "\x00batchport-emulator-splice\x00"
_SENTINEL_JSON = orjson.dumps(_SENTINEL)


def body_weight(body: Mapping[str, Any]) -> int:
    """A rough cost of serializing ``body``: the numbers (or base64 characters / 4)
    in its ``data`` items' embeddings; other bodies are bounded by the responders' caps."""
    data = body.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], Mapping):
        return 0
    first = data[0].get("embedding")
    if isinstance(first, list):
        return len(first) * len(data)
    if isinstance(first, str):
        return len(first) // 4 * len(data)
    return 0


def dumps_pieces(
    body: Mapping[str, Any], frame: Callable[[Mapping[str, Any]], bytes]
) -> list[bytes]:
    """``frame(body)`` in pieces that concatenate to it, with ``body["data"]``
    serialized one item at a time. ``frame`` must serialize the body it is given
    exactly once (e.g. a result line around it); a frame that does not is called
    on the whole body."""
    data = body.get("data")
    if not isinstance(data, list) or len(data) < 2:
        return [frame(body)]
    outer = frame({**body, "data": _SENTINEL})
    at = outer.find(_SENTINEL_JSON)
    if at < 0 or outer.find(_SENTINEL_JSON, at + 1) >= 0:  # the frame changed the body
        return [frame(body)]
    pieces = [outer[:at] + b"["]
    last = len(data) - 1
    for index, item in enumerate(data):
        pieces.append(orjson.dumps(item) + (b"," if index < last else b"]"))
    pieces.append(outer[at + len(_SENTINEL_JSON) :])
    return pieces


def dumps_spliced(body: Mapping[str, Any], frame: Callable[[Mapping[str, Any]], bytes]) -> bytes:
    """:func:`dumps_pieces` joined."""
    return b"".join(dumps_pieces(body, frame))


def dumps_body(body: Mapping[str, Any]) -> list[bytes]:
    """``orjson.dumps(body)`` in pieces (see the module docstring)."""
    return dumps_pieces(body, orjson.dumps)


def dismantle(holder: Any) -> None:
    """Free ``holder.body["data"]`` item by item when nothing else refers to the
    body or its list (so no one can see the change), letting other threads run in
    between; dropping 6 million floats at once holds the GIL for ~70 ms."""
    body = holder.body
    data = body.get("data") if isinstance(body, dict) else None
    # references: the holder's attribute (or the body's slot), the local, the argument
    if not isinstance(data, list) or sys.getrefcount(body) > 3 or sys.getrefcount(data) > 3:
        return
    while data:
        data.pop()
