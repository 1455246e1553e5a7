"""What Gemini's batch and file handlers share: the dialect, the origin, page tokens."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from aiohttp import web

from batchport_emulator.app.keys import DIALECT
from batchport_emulator.dialects.gemini import GeminiDialect
from batchport_emulator.errors import ApiError


def gemini(request: web.Request) -> GeminiDialect:
    dialect = request.get(DIALECT)
    if not isinstance(dialect, GeminiDialect):  # only routed under its prefixes
        raise RuntimeError("a Gemini route outside the Gemini dialect")
    return dialect


def origin(request: web.Request) -> str:
    """``http://host:port``: the emulator's own address, for upload and file URIs."""
    return f"{request.scheme}://{request.host}"


def page_size(query: Mapping[str, str], default: int, maximum: int = 1000) -> int:
    raw = query.get("pageSize", query.get("page_size", ""))
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid value at 'page_size' (TYPE_INT32), \"{raw[:32]}\"") from None
    if value < 0:
        raise ApiError(400, "* page_size: must not be negative")
    return min(value or default, maximum)


def page_token(query: Mapping[str, str]) -> int | None:
    """The position a ``pageToken`` continues after (an opaque token to clients)."""
    raw = query.get("pageToken", query.get("page_token", ""))
    if raw == "":
        return None
    try:
        return int(base64.urlsafe_b64decode(raw.encode() + b"==").decode())
    except ValueError:
        raise ApiError(400, "Invalid page token.") from None


def next_token(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")
