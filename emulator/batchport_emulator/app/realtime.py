"""Realtime endpoints answered by the responders under the latency and rate-limit model.

Each call is admitted by the RPM/TPM limiter (429 with ``x-ratelimit-*``,
``retry-after`` and ``retry-after-ms`` when refused), answered by the
responder, then held for the modelled latency. The wait is virtual time turned
into real time by the clock's scale, so a fast clock makes slow models quick.
A share of calls (``realtime.error_rate``) fails on purpose instead: a 429 at
once, or a 500/503 after the base latency (the time a real server takes to give up).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web
from aiohttp.payload import AsyncIterablePayload

from batchport_emulator.app.helpers import dialect_of, json_response, read_json, state_of
from batchport_emulator.app.keys import REQUEST_ID
from batchport_emulator.errors import ApiError, error_for_status, invalid_type
from batchport_emulator.ratelimit import rate_limit_error_body
from batchport_emulator.responders import RespondRequest, RespondResult
from batchport_emulator.responders.serialize import (
    HEAVY_WEIGHT,
    body_weight,
    dismantle,
    dumps_body,
)

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


def _serialize(result: RespondResult) -> list[bytes]:
    """The body's JSON in pieces; its floats are freed here too, not on the loop."""
    pieces = dumps_body(result.body)
    dismantle(result)
    return pieces


async def _stream(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _sleep_virtual(request: web.Request, seconds: float) -> None:
    delay = state_of(request).clock.real_delay(seconds)
    if 0 < delay < math.inf:
        await asyncio.sleep(delay)


async def hold_for_latency(request: web.Request, result: RespondResult) -> None:
    """Wait the modelled latency of an answer (virtual time at the clock's scale).

    Raises:
        ApiError: the call drew an injected failure (``realtime.error_rate``): a 429
            with ``retry-after`` at once, or a 500/503 after the base latency.
    """
    state = state_of(request)
    key = request[REQUEST_ID]
    fault = state.realtime_errors.draw(key)
    if fault is not None:
        if fault != "429":
            await _sleep_virtual(request, state.latency.base_s)
        raise injected_error(fault, state.config.realtime.error_retry_after_s)
    await _sleep_virtual(request, state.latency.latency(result.output_tokens, key=key))


def injected_error(kind: str, retry_after_s: float) -> ApiError:
    """The error an injected realtime failure of ``kind`` answers."""
    err = error_for_status(int(kind))
    if kind == "429":
        ms = max(1, math.ceil(retry_after_s * 1000))
        err.headers.update({"retry-after-ms": str(ms), "retry-after": f"{ms / 1000:g}"})
    return err


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
        await hold_for_latency(request, result)
        if body_weight(result.body) > HEAVY_WEIGHT:  # up to 2048 vectors: off the loop
            pieces = await asyncio.to_thread(_serialize, result)
            return web.Response(
                body=AsyncIterablePayload(_stream(pieces), content_type="application/json"),
                status=result.status_code,
                headers=decision.headers,
            )
        return json_response(result.body, status=result.status_code, headers=decision.headers)

    return handle


def routes(prefix: str) -> list[web.RouteDef]:
    return [web.post(prefix + path, _handler(path)) for path in ENDPOINTS]
