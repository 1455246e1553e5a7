"""The aiohttp application: factory, routes, background processing.

:func:`create_app` builds an application around a fresh
:class:`~batchport_emulator.state.EmulatorState`; the batch processor runs as a
``cleanup_ctx`` task for the application's lifetime, and so does webhook delivery. Each
dialect names the route sets it serves (:data:`ROUTE_SETS`: files, batches, realtime,
anthropic, gemini); they are added under each of its prefixes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from aiohttp import web

from batchport_emulator.app import (
    anthropic_routes,
    batches_routes,
    control,
    files_routes,
    gemini_routes,
    realtime,
)
from batchport_emulator.app.keys import STATE
from batchport_emulator.app.middleware import api_middleware
from batchport_emulator.app.webhook_client import WebhookPoster
from batchport_emulator.config import EmulatorConfig, coerce_config
from batchport_emulator.responders import CallableResponder, Responder
from batchport_emulator.state import EmulatorState

# JSON bodies (batch create, realtime calls) stay well below this; uploads are
# streamed and not subject to it.
CLIENT_MAX_SIZE = 32 * 1024 * 1024

ResponderLike = Responder | Callable[..., Any]
#: route set name -> the routes of that set under one prefix
ROUTE_SETS: dict[str, Callable[[str], list[web.RouteDef]]] = {
    "files": files_routes.routes,
    "batches": batches_routes.routes,
    "realtime": realtime.routes,
    "anthropic": anthropic_routes.routes,
    "gemini": gemini_routes.routes,
}


def _as_responder(responder: ResponderLike | None) -> Responder | None:
    if responder is None or hasattr(responder, "respond"):
        return responder  # type: ignore[return-value]
    return CallableResponder(responder)


async def _processing(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    task = asyncio.create_task(state.processor.run_forever(), name="batchport-emulator-batches")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await state.aclose()


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    poster = WebhookPoster()
    state.webhooks.post = poster
    task = asyncio.create_task(state.webhooks.run_forever(), name="batchport-emulator-webhooks")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    state.webhooks.post = None
    await poster.aclose()


def create_app(
    config: EmulatorConfig | Mapping[str, Any] | None = None,
    *,
    responder: ResponderLike | None = None,
) -> web.Application:
    """Build the emulator application.

    ``config`` may be an :class:`EmulatorConfig`, a mapping validated into one, or
    ``None`` for the defaults. ``responder`` (a :class:`Responder` or a plain
    callable taking a ``RespondRequest``) replaces the configured responder.
    """
    state = EmulatorState(coerce_config(config), responder=_as_responder(responder))
    app = web.Application(middlewares=[api_middleware], client_max_size=CLIENT_MAX_SIZE)
    app[STATE] = state
    for dialect in state.dialects:
        for prefix in dialect.prefixes:
            for route_set in dialect.route_sets:
                app.router.add_routes(ROUTE_SETS[route_set](prefix))
    app.router.add_routes(control.routes())
    app.cleanup_ctx.append(_processing)
    app.cleanup_ctx.append(_webhooks)
    return app
