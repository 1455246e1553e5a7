"""Batch endpoints: create, retrieve (a recorded poll), cancel, list."""

from __future__ import annotations

from aiohttp import web

from batchport_emulator.app.helpers import (
    dialect_of,
    json_response,
    list_body,
    principal_of,
    read_json,
    state_of,
)
from batchport_emulator.pagination import parse_limit


async def create_batch(request: web.Request) -> web.Response:
    state, dialect = state_of(request), dialect_of(request)
    params = dialect.rules.parse_create_params(await read_json(request))
    batch = state.create_batch(params, dialect=dialect, principal=principal_of(request))
    return json_response(dialect.batch_object(batch))


async def retrieve_batch(request: web.Request) -> web.Response:
    batch = state_of(request).poll_batch(
        request.match_info["batch_id"], principal=principal_of(request)
    )
    return json_response(dialect_of(request).batch_object(batch))


async def cancel_batch(request: web.Request) -> web.Response:
    batch = state_of(request).cancel_batch(
        request.match_info["batch_id"], principal=principal_of(request)
    )
    return json_response(dialect_of(request).batch_object(batch))


async def list_batches(request: web.Request) -> web.Response:
    state, dialect = state_of(request), dialect_of(request)
    limit = parse_limit(request.query, default=20, maximum=100)
    page = state.list_batches(
        after=request.query.get("after") or None, limit=limit, principal=principal_of(request)
    )
    items = [dialect.batch_object(b) for b in page.items]
    return json_response(list_body(items, page.has_more))


def routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.post(f"{prefix}/batches", create_batch),
        web.get(f"{prefix}/batches", list_batches, allow_head=False),
        web.get(f"{prefix}/batches/{{batch_id}}", retrieve_batch, allow_head=False),
        web.post(f"{prefix}/batches/{{batch_id}}/cancel", cancel_batch),
    ]
