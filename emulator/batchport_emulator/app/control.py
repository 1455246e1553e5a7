"""Control endpoints under ``/_emulator/``: reset, config, clock, batches, webhooks.

The middleware asks for the control key (:mod:`batchport_emulator.app.guard`);
config patches are checked by :func:`~batchport_emulator.app.guard.check_patch`."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from batchport_emulator.app.guard import check_clock_scale, check_clock_time, check_patch
from batchport_emulator.app.helpers import json_response, read_json, state_of
from batchport_emulator.errors import ApiError

PREFIX = "/_emulator"


def _config_error(exc: ValidationError) -> ApiError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
    )
    return ApiError(400, f"Invalid emulator config: {problems}"[:2000], code="invalid_config")


async def reset(request: web.Request) -> web.Response:
    state_of(request).reset()
    return json_response({"reset": True})


async def get_config(request: web.Request) -> web.Response:
    return json_response(state_of(request).config.public_dict())


async def patch_config(request: web.Request) -> web.Response:
    patch = await read_json(request)
    if not isinstance(patch, dict):
        raise ApiError(400, "The config patch must be a JSON object.")
    state = state_of(request)
    try:
        config = state.configure(check_patch(state.config, patch))
    except ValidationError as exc:
        raise _config_error(exc) from None
    return json_response(config.public_dict())


def _clock_body(request: web.Request) -> dict[str, Any]:
    clock = state_of(request).clock
    return {"now": clock.now(), "scale": clock.scale}


async def get_clock(request: web.Request) -> web.Response:
    return json_response(_clock_body(request))


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"'{key}' must be a finite number.", param=key)
    if value < 0:
        raise ApiError(400, f"'{key}' must not be negative.", param=key)
    return float(value)


async def post_clock(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict) or not {"advance", "set", "scale"} & body.keys():
        raise ApiError(400, "Expected a JSON object with 'advance', 'set' or 'scale'.")
    state = state_of(request)
    ts, seconds, scale = (_number(body, k) for k in ("set", "advance", "scale"))
    start = ts if ts is not None else state.clock.now()
    check_clock_time(start + (seconds or 0.0), "set" if seconds is None else "advance")
    if scale is not None:
        check_clock_scale(scale, "scale")
    if ts is not None:
        state.set_clock(ts)
    if seconds is not None:
        state.advance_clock(seconds)
    if scale is not None:
        state.set_clock_scale(scale)
    return json_response(_clock_body(request))


async def list_batches(request: web.Request) -> web.Response:
    data = state_of(request).batch_summaries()
    return json_response({"object": "list", "data": data, "count": len(data)})


async def list_webhooks(request: web.Request) -> web.Response:
    data = state_of(request).webhooks.summaries()
    return json_response({"object": "list", "data": data, "count": len(data)})


def routes() -> list[web.RouteDef]:
    return [
        web.post(f"{PREFIX}/reset", reset),
        web.get(f"{PREFIX}/config", get_config, allow_head=False),
        web.patch(f"{PREFIX}/config", patch_config),
        web.get(f"{PREFIX}/clock", get_clock, allow_head=False),
        web.post(f"{PREFIX}/clock", post_clock),
        web.get(f"{PREFIX}/batches", list_batches, allow_head=False),
        web.get(f"{PREFIX}/webhooks", list_webhooks, allow_head=False),
    ]
