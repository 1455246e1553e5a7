"""An aiohttp application that receives batch webhooks, for embedding in a service.

=====================================================  ======  ==============
delivery                                               answer  ``on_event``
=====================================================  ======  ==============
verified batch event                                   200     scheduled
verified event of another kind                         200     not called
replay of an accepted ``webhook-id``                   200     not called
bad or missing signature headers, stale/future stamp   400     not called
verified, but the body is not a JSON event             400     not called
body over ``max_body`` bytes                           413     not called
any method but POST                                    405     not called
=====================================================  ======  ==============

The answer never waits for ``on_event``: it is scheduled on the loop and may be a
plain function or a coroutine function; what it raises is logged, and what is still
running when the application shuts down is cancelled. Refusals say no more than
"invalid webhook", and nothing is logged of the secret, the signature or the body.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from batchport.webhooks.errors import InvalidEvent, ReplayedWebhook, WebhookRejected
from batchport.webhooks.events import BatchEvent
from batchport.webhooks.receiver import WebhookReceiver
from batchport.webhooks.verify import DEFAULT_TOLERANCE_S, WebhookClock

__all__ = ["DEFAULT_MAX_BODY", "RECEIVER", "EventCallback", "make_app"]

log = logging.getLogger("batchport.webhooks")

EventCallback = Callable[[BatchEvent], Awaitable[None] | None]
DEFAULT_MAX_BODY = 64 * 1024  # batch events are a few hundred bytes


class _Dispatch:
    """The receiver, the callback and the callbacks still running."""

    def __init__(self, receiver: WebhookReceiver, on_event: EventCallback, max_body: int):
        self.receiver = receiver
        self.on_event = on_event
        self.max_body = max_body
        self.running: set[asyncio.Task[None]] = set()

    def schedule(self, event: BatchEvent) -> None:
        asyncio.get_running_loop().call_soon(self._start, event)

    def _start(self, event: BatchEvent) -> None:
        try:
            result = self.on_event(event)
        except Exception:
            log.exception("the webhook event callback failed for %s", event.batch_id)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(_guarded(result, event.batch_id))
            self.running.add(task)
            task.add_done_callback(self.running.discard)


async def _guarded(work: Awaitable[None], batch_id: str) -> None:
    try:
        await work
    except Exception:
        log.exception("the webhook event callback failed for %s", batch_id)


RECEIVER = web.AppKey("batchport_webhook_receiver", _Dispatch)


def make_app(
    secret: str,
    on_event: EventCallback,
    *,
    path: str = "/webhooks",
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    clock: WebhookClock = time.time,
    max_body: int = DEFAULT_MAX_BODY,
    max_ids: int = 100_000,
) -> web.Application:
    """An application answering POSTs on ``path`` (see the module table).

    ``secret`` is the endpoint's ``whsec_…`` signing secret; ``tolerance_s`` (seconds)
    bounds the timestamp's distance from ``clock()`` (unix seconds); ``max_body`` is in
    bytes; ``max_ids`` bounds the replay memory. Mount it with ``add_subapp`` or run it
    on its own. Raises :class:`~batchport.errors.ConfigError` for a bad secret.
    """
    receiver = WebhookReceiver(secret, tolerance_s=tolerance_s, clock=clock, max_ids=max_ids)
    app = web.Application()
    app[RECEIVER] = _Dispatch(receiver, on_event, max_body)
    app.router.add_post(path, _receive)
    app.cleanup_ctx.append(_cancel_callbacks_on_exit)
    return app


async def _receive(request: web.Request) -> web.Response:
    dispatch = request.app[RECEIVER]
    body = await _read_capped(request, dispatch.max_body)
    if body is None:
        return web.Response(status=413, text="payload too large")
    try:
        event = dispatch.receiver.receive(body, request.headers)
    except ReplayedWebhook:
        log.info("webhook %s was already accepted; ignored", _id_of(request))
        return web.Response(text="ok")
    except InvalidEvent as exc:
        log.warning("webhook %s refused: %s", _id_of(request), exc)
        return web.Response(status=400, text="invalid event")
    except WebhookRejected as exc:
        log.warning("webhook refused: %s", exc)
        return web.Response(status=400, text="invalid webhook")
    if event is None:
        log.debug("webhook %s is not a batch event; ignored", _id_of(request))
    else:
        log.info("webhook %s: %s %s %s", event.event_id, event.provider, event.type, event.batch_id)
        dispatch.schedule(event)
    return web.Response(text="ok")


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it is known to exceed ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    parts: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _id_of(request: web.Request) -> str:
    # only called once the signature held, so the id is the sender's own
    return request.headers.get("webhook-id", "?")


async def _cancel_callbacks_on_exit(app: web.Application) -> AsyncIterator[None]:
    yield
    running: Any = list(app[RECEIVER].running)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
