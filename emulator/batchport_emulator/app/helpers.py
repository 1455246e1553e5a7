"""Small request and response helpers shared by the handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from batchport_emulator.app.keys import DIALECT, PRINCIPAL, STATE
from batchport_emulator.dialects import Dialect
from batchport_emulator.errors import bad_json_body, request_timeout
from batchport_emulator.state import EmulatorState


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        headers=headers,
        content_type="application/json",
    )


async def read_json(request: web.Request) -> Any:
    """The JSON body; raises :class:`ApiError` 400 when it is not valid JSON, 408 when
    it does not arrive within ``read_timeout_s``."""
    try:
        async with asyncio.timeout(state_of(request).config.read_timeout_s):
            raw = await request.read()
    except TimeoutError:
        raise request_timeout() from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_json_body() from None


def state_of(request: web.Request) -> EmulatorState:
    return request.app[STATE]


def dialect_of(request: web.Request) -> Dialect:
    """The dialect the middleware picked for this request (the default one outside
    every dialect's prefixes)."""
    dialect = request.get(DIALECT)
    return dialect if dialect is not None else request.app[STATE].dialects.default


def principal_of(request: web.Request) -> str | None:
    """Whom the request's credential stands for (``None``: no API keys, no scoping)."""
    return request.get(PRINCIPAL)


def list_body(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }
