"""Anthropic's routes under ``/v1/messages``: Message Batches and realtime Messages.

Thin handlers over the shared state: a create body is received streaming into a file
under ``anthropic.max_request_bytes`` (413 beyond it) and handed to
:meth:`~batchport_emulator.state.EmulatorState.create_inline_batch`; the results stream
is the batch's one output file, served as ``application/x-jsonl``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from batchport_emulator.anthropic.wire import archived, as_error_envelope
from batchport_emulator.app.helpers import json_response, principal_of, read_json, state_of
from batchport_emulator.app.keys import DIALECT, REQUEST_ID
from batchport_emulator.app.realtime import estimate_request_tokens, hold_for_latency
from batchport_emulator.batches import Batch
from batchport_emulator.dialects.anthropic import AnthropicDialect
from batchport_emulator.errors import ApiError, request_timeout
from batchport_emulator.responders import RespondRequest

ENDPOINT = "/v1/messages"
CHUNK = 1 << 18
_TOO_LARGE = "Request exceeds the maximum size"


def _dialect(request: web.Request) -> AnthropicDialect:
    dialect = request.get(DIALECT)
    if not isinstance(dialect, AnthropicDialect):  # only routed under its prefix
        raise RuntimeError("an Anthropic route outside the Anthropic dialect")
    return dialect


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _render(request: web.Request, batch: Batch) -> web.Response:
    return json_response(_dialect(request).message_batch(batch, origin=_origin(request)))


def _batch(request: web.Request, *, poll: bool = False) -> Batch:
    """The path's batch, if it is one of this dialect's (else 404)."""
    state, dialect = state_of(request), _dialect(request)
    batch_id = request.match_info["batch_id"]
    principal = principal_of(request)
    batch = state.batches.get(batch_id)
    if batch.dialect != dialect.name or not state.batch_visible(batch, principal):
        raise ApiError(404, f"No message batch found with id '{batch_id[:128]}'.")
    return state.poll_batch(batch_id, principal=principal) if poll else batch


async def create_batch(request: web.Request) -> web.Response:
    state, dialect = state_of(request), _dialect(request)
    cap = dialect.settings.max_request_bytes
    if request.content_length is not None and request.content_length > cap:
        raise ApiError(413, _TOO_LARGE)
    sink = state.begin_upload(cap)
    try:
        async with asyncio.timeout(state.config.read_timeout_s):
            while chunk := await request.content.read(CHUNK):
                sink.write(chunk)
    except ApiError:  # past the cap: the sink removed what it had
        raise ApiError(413, _TOO_LARGE) from None
    except TimeoutError:
        sink.abort()
        raise request_timeout() from None
    batch = await state.create_inline_batch(
        sink, endpoint=ENDPOINT, dialect=dialect, principal=principal_of(request)
    )
    return _render(request, batch)


async def retrieve_batch(request: web.Request) -> web.Response:
    return _render(request, _batch(request, poll=True))


async def list_batches(request: web.Request) -> web.Response:
    state, dialect = state_of(request), _dialect(request)
    principal = principal_of(request)
    limit = _limit(request.query.get("limit"))
    after, before = request.query.get("after_id"), request.query.get("before_id")
    if after and before:
        raise ApiError(400, "after_id and before_id cannot be used together")
    mine = [
        b
        for b in reversed(state.batches.all())
        if b.dialect == dialect.name and state.batch_visible(b, principal)
    ]
    if after or before:
        cursor = _cursor(state.batches.all(), after or before or "")
        if after:
            mine = [b for b in mine if b.seq < cursor]
            page = mine[:limit]
        else:
            mine = [b for b in mine if b.seq > cursor]
            page = mine[-limit:]
    else:
        page = mine[:limit]
    origin = _origin(request)
    data = [dialect.message_batch(b, origin=origin) for b in page]
    return json_response(
        {
            "data": data,
            "has_more": len(mine) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return 20
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "limit: Input should be a valid integer") from None
    if not 1 <= value <= 1000:
        raise ApiError(400, "limit: Input should be between 1 and 1000")
    return value


def _cursor(batches: list[Batch], batch_id: str) -> int:
    for batch in batches:
        if batch.id == batch_id:
            return batch.seq
    raise ApiError(400, f"Invalid cursor: no message batch with id '{batch_id[:128]}'")


async def cancel_batch(request: web.Request) -> web.Response:
    batch = _batch(request)
    if not batch.terminal:  # cancelling an ended batch answers it as it is
        batch = state_of(request).cancel_batch(batch.id, principal=principal_of(request))
    return _render(request, batch)


async def delete_batch(request: web.Request) -> web.Response:
    batch = _batch(request)
    state_of(request).delete_batch(batch.id, principal=principal_of(request))
    return json_response({"id": batch.id, "type": "message_batch_deleted"})


async def batch_results(request: web.Request) -> web.StreamResponse:
    state, dialect = state_of(request), _dialect(request)
    batch = _batch(request)
    if not batch.terminal:
        raise ApiError(404, f"Results for message batch '{batch.id}' are not available yet.")
    if archived(batch, state.clock.now(), dialect.settings.results_retention_s):
        raise ApiError(404, f"Results for message batch '{batch.id}' have been archived.")
    path = state.batch_results_path(batch.id, principal=principal_of(request))
    headers = {"Content-Type": "application/x-jsonl"}
    if path is None:
        return web.Response(body=b"", headers=headers)
    return web.FileResponse(path, chunk_size=CHUNK, headers=headers)


async def create_message(request: web.Request) -> web.Response:
    """``POST /v1/messages``: one Messages answer under the realtime latency and limits."""
    state = state_of(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "Input should be a valid dictionary")
    if body.get("stream") is True:
        raise ApiError(400, "stream: streaming is not supported by the emulator")
    decision = state.limiter.check(estimate_request_tokens(request.content_length or 0, body))
    if not decision.allowed:
        headers = _ratelimit_headers(decision.headers)
        raise ApiError(429, "Number of requests has exceeded your rate limit.", headers=headers)
    result = await state.responder.respond(
        RespondRequest(url=ENDPOINT, body=body, dialect=_dialect(request).name)
    )
    await hold_for_latency(request, result)
    headers = _ratelimit_headers(decision.headers)
    if 200 <= result.status_code < 300:
        return json_response(result.body, headers=headers)
    error: dict[str, Any] = as_error_envelope(result.status_code, result.body)
    error["request_id"] = request[REQUEST_ID]
    return json_response(error, status=result.status_code, headers=headers)


def _ratelimit_headers(openai: Mapping[str, str]) -> dict[str, str]:
    """The limiter's headers under Anthropic's names (``anthropic-ratelimit-*``)."""
    out = {k: v for k, v in openai.items() if k.startswith("retry-after")}
    for kind in ("requests", "tokens"):
        for field in ("limit", "remaining"):
            value = openai.get(f"x-ratelimit-{field}-{kind}")
            if value is not None:
                out[f"anthropic-ratelimit-{kind}-{field}"] = value
    return out


def routes(prefix: str) -> list[web.RouteDef]:
    batches = f"{prefix}/batches"
    return [
        web.post(prefix, create_message),
        web.post(batches, create_batch),
        web.get(batches, list_batches, allow_head=False),
        web.get(f"{batches}/{{batch_id}}", retrieve_batch, allow_head=False),
        web.delete(f"{batches}/{{batch_id}}", delete_batch),
        web.post(f"{batches}/{{batch_id}}/cancel", cancel_batch),
        web.get(f"{batches}/{{batch_id}}/results", batch_results, allow_head=False),
    ]
