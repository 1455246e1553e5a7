"""Gemini's routes under ``/v1beta`` (and its upload and download prefixes): Batch mode,
``generateContent`` and, from :mod:`.gemini_files`, the Files API.

Thin handlers over the shared state. A create body is received streaming into a file
under ``gemini.max_inline_bytes`` (a 400 beyond it, as the real service answers) and
checked on a worker thread; inline requests go through
:meth:`~batchport_emulator.state.EmulatorState.create_inline_batch`, a ``files/...``
source through :meth:`~batchport_emulator.state.EmulatorState.create_batch`. A finished
batch's Operation (which may hold every inline response) is rendered off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from batchport_emulator.app import gemini_files
from batchport_emulator.app.gemini_common import gemini, next_token, page_size, page_token
from batchport_emulator.app.helpers import json_response, principal_of, read_json, state_of
from batchport_emulator.app.realtime import estimate_request_tokens, hold_for_latency
from batchport_emulator.batch_params import CreateParams
from batchport_emulator.batches import Batch
from batchport_emulator.dialects.gemini import PREFIX, GeminiDialect
from batchport_emulator.errors import ApiError, request_timeout
from batchport_emulator.gemini.envelope import CreateBody, parse_create
from batchport_emulator.gemini.wire import error_body, message_of, timestamp
from batchport_emulator.responders import RespondRequest

CHUNK = 1 << 18


def _too_large(cap: int) -> ApiError:
    return ApiError(400, f"Request payload size exceeds the limit: {cap} bytes.")


async def _render(dialect: GeminiDialect, batch: Batch) -> dict[str, Any]:
    if batch.terminal:  # may read every inline response back from disk
        return await asyncio.to_thread(dialect.operation, batch)
    return dialect.operation(batch)


def _batch(request: web.Request, batch_id: str) -> Batch:
    """The path's batch, if it is one of this dialect's and the caller's (else 404)."""
    state, dialect = state_of(request), gemini(request)
    found = state.batches.get(batch_id) if batch_id in state.batches else None
    if (
        found is None
        or found.dialect != dialect.name
        or not state.batch_visible(found, principal_of(request))
    ):
        raise ApiError(404, f"Batch batches/{batch_id[:64]} not found.")
    return found


async def _receive_body(request: web.Request, cap: int) -> bytes:
    state = state_of(request)
    if request.content_length is not None and request.content_length > cap:
        raise _too_large(cap)
    sink = state.begin_upload(cap)
    try:
        async with asyncio.timeout(state.config.read_timeout_s):
            while chunk := await request.content.read(CHUNK):
                sink.write(chunk)
    except ApiError:  # past the cap: the sink removed what it had
        raise _too_large(cap) from None
    except TimeoutError:
        sink.abort()
        raise request_timeout() from None
    sink.close()
    try:
        return await asyncio.to_thread(sink.path.read_bytes)
    finally:
        sink.abort()


async def create_batch(request: web.Request, model: str) -> web.Response:
    state, dialect = state_of(request), gemini(request)
    settings = dialect.settings
    raw = await _receive_body(request, settings.max_inline_bytes)
    body: CreateBody = await asyncio.to_thread(
        parse_create, raw, max_requests=settings.max_requests_per_batch
    )
    metadata = {
        "model": "models/" + model,
        "source": "file" if body.file_name else "inline",
        "createTime": timestamp(state.clock.now()) or "",
    }
    if body.display_name:
        metadata["displayName"] = body.display_name
    endpoint = f"/v1beta/models/{model}:generateContent"
    principal = principal_of(request)
    if body.file_name is not None:
        file_id = body.file_name.removeprefix("files/")
        record = gemini_files.find_file(request, file_id)
        if record.purpose != dialect.rules.input_purpose:
            raise ApiError(400, f"{body.file_name} is not an uploaded input file.")
        params = CreateParams(file_id, endpoint, "48h", metadata, settings.file_ttl_s)
        batch = state.create_batch(params, dialect=dialect, principal=principal)
    else:
        sink = state.begin_upload()
        sink.write(raw)
        batch = await state.create_inline_batch(
            sink, endpoint=endpoint, dialect=dialect, principal=principal, metadata=metadata
        )
    if body.webhook_uris is not None or body.webhook_user_metadata is not None:
        # set before this handler yields, so before the batch can finish
        batch.webhook_uris, batch.webhook_user_metadata = (
            body.webhook_uris,
            body.webhook_user_metadata,
        )
        state.batches.save(batch)
    return json_response(dialect.operation(batch))


async def generate_content(request: web.Request, model: str) -> web.Response:
    """``POST models/{model}:generateContent`` under the realtime latency and limits."""
    state = state_of(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.")
    decision = state.limiter.check(estimate_request_tokens(request.content_length or 0, body))
    if not decision.allowed:
        raise ApiError(429, "You exceeded your current quota.")
    url = f"/v1beta/models/{model}:generateContent"
    result = await state.responder.respond(
        RespondRequest(url=url, body=body, dialect=gemini(request).name)
    )
    await hold_for_latency(request, result)
    if 200 <= result.status_code < 300:
        return json_response(result.body)
    error = result.body if "status" in (result.body.get("error") or {}) else None
    return json_response(
        error or error_body(result.status_code, message_of(result.body)),
        status=result.status_code,
    )


async def model_action(request: web.Request) -> web.Response:
    model, _, action = request.match_info["name"].rpartition(":")
    if action == "batchGenerateContent" and model:
        return await create_batch(request, model)
    if action == "generateContent" and model:
        return await generate_content(request, model)
    raise gemini(request).unknown_route(request.method, request.path)


async def get_batch(request: web.Request) -> web.Response:
    state, dialect = state_of(request), gemini(request)
    batch = _batch(request, request.match_info["name"])
    batch = state.poll_batch(batch.id, principal=principal_of(request))
    return json_response(await _render(dialect, batch))


async def cancel_batch(request: web.Request) -> web.Response:
    batch_id, _, action = request.match_info["name"].partition(":")
    if action != "cancel":
        raise gemini(request).unknown_route(request.method, request.path)
    batch = _batch(request, batch_id)
    if batch.terminal:
        raise ApiError(
            400, f"Batch batches/{batch.id} has already finished.", code="FAILED_PRECONDITION"
        )
    state_of(request).cancel_batch(batch.id, principal=principal_of(request))
    return json_response({})


async def delete_batch(request: web.Request) -> web.Response:
    """Stops the batch if it runs and forgets it (section 2.5)."""
    dialect = gemini(request)
    batch = _batch(request, request.match_info["name"])
    state_of(request).delete_batch(batch.id, principal=principal_of(request), stop=True)
    dialect.rules.inline_cache.pop(batch.id, None)
    return json_response({"name": "batches/" + batch.id, "done": True})


async def list_batches(request: web.Request) -> web.Response:
    state, dialect = state_of(request), gemini(request)
    size = page_size(request.query, default=dialect.settings.page_size)
    after = page_token(request.query)
    principal = principal_of(request)
    mine = [
        b
        for b in reversed(state.batches.all())
        if b.dialect == dialect.name
        and state.batch_visible(b, principal)
        and (after is None or b.seq < after)
    ]
    page = mine[:size]
    body: dict[str, Any] = {}
    if page:
        body["operations"] = await asyncio.to_thread(lambda: [dialect.operation(b) for b in page])
    if len(mine) > size:
        body["nextPageToken"] = next_token(page[-1].seq)
    return json_response(body)


def routes(prefix: str) -> list[web.RouteDef]:
    if prefix != PREFIX:  # the upload and download prefixes
        return gemini_files.routes(prefix)
    batches = f"{prefix}/batches"
    return [
        web.post(f"{prefix}/models/{{name}}", model_action),
        web.get(batches, list_batches, allow_head=False),
        web.get(f"{batches}/{{name}}", get_batch, allow_head=False),
        web.post(f"{batches}/{{name}}", cancel_batch),
        web.delete(f"{batches}/{{name}}", delete_batch),
        *gemini_files.routes(prefix),
    ]
