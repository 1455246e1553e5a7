"""Realtime endpoints answered by the responders under the latency and rate-limit model.

Each call is admitted by the RPM/TPM limiter (429 with ``x-ratelimit-*``,
``retry-after`` and ``retry-after-ms`` when refused), answered by the
responder, then held for the modelled latency. The wait is virtual time turned
into real time by the clock's scale, so a fast clock makes slow models quick.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from batchport_emulator.app.helpers import dialect_of, json_response, read_json, state_of
from batchport_emulator.app.keys import REQUEST_ID
from batchport_emulator.errors import ApiError, invalid_type
from batchport_emulator.ratelimit import rate_limit_error_body
from batchport_emulator.responders import RespondRequest

ENDPOINTS: tuple[str, ...] = (
    "/chat/completions",
    "/responses",
    "/embeddings",
    "/completions",
    "/moderations",
    # JSON bodies only: image edits (multipart in the SDK) and video jobs (which
    # would need retrieval and downloads) are answered in batches, not here.
    "/images/generations",
)
_MAX_OUTPUT_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def estimate_request_tokens(raw_size: int, body: Mapping[str, Any]) -> int:
    """Tokens a call counts against TPM: prompt estimate plus the requested output cap."""
    tokens = max(1, raw_size // 4)
    for key in _MAX_OUTPUT_KEYS:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return tokens + value
    return tokens


def _handler(path: str) -> Any:
    async def handle(request: web.Request) -> web.Response:
        state = state_of(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise invalid_type("body", "an object", body)
        if body.get("stream") is True:
            raise ApiError(
                400,
                "Streaming responses are not supported by the emulator.",
                param="stream",
                code="unsupported_value",
            )
        size = request.content_length or 0
        decision = state.limiter.check(estimate_request_tokens(size, body))
        if not decision.allowed:
            error = rate_limit_error_body(decision, model=str(body.get("model", "unknown")))
            return json_response(error, status=429, headers=decision.headers)
        result = await state.responder.respond(
            RespondRequest(url="/v1" + path, body=body, dialect=dialect_of(request).name)
        )
        delay = state.clock.real_delay(
            state.latency.latency(result.output_tokens, key=request[REQUEST_ID])
        )
        if 0 < delay < math.inf:
            await asyncio.sleep(delay)
        if path == "/embeddings":  # up to 2048 vectors: serialize off the event loop
            raw = await asyncio.to_thread(orjson.dumps, result.body)
            return web.Response(
                body=raw,
                status=result.status_code,
                headers=decision.headers,
                content_type="application/json",
            )
        return json_response(result.body, status=result.status_code, headers=decision.headers)

    return handle


def routes(prefix: str) -> list[web.RouteDef]:
    return [web.post(prefix + path, _handler(path)) for path in ENDPOINTS]
