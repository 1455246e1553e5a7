"""Serving the receiver: on a socket for a while, and waking shards in a run store.

- :func:`serving`: an application listening on ``host:port`` for the length of an
  ``async with`` block; yields the URL it answers on.
- :func:`store_waker`: the ``on_event`` of ``batchport webhooks serve --store``: each
  verified event marks the shards running its batch as woken in the store, where the
  runs driving them (in any process) look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from batchport.store import RunStore
from batchport.webhooks.events import BatchEvent

__all__ = ["serving", "store_waker"]

log = logging.getLogger("batchport.webhooks")


@contextlib.asynccontextmanager
async def serving(app: web.Application, host: str, port: int, path: str) -> AsyncIterator[str]:
    """Serve ``app`` on ``host:port`` (0: any free port) inside the block; yields
    ``http://host:bound-port{path}``. Raises ``OSError`` when the address is taken."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound}{path}"
    finally:
        await runner.cleanup()


def store_waker(
    store: RunStore,
    *,
    clock: Callable[[], float] = time.time,
    announce: Callable[[BatchEvent, list[tuple[str, str]]], None] | None = None,
) -> Callable[[BatchEvent], Awaitable[None]]:
    """An ``on_event`` that calls ``store.wake_job(event.batch_id, clock())``.

    The store call runs on a worker thread, so the receiver keeps answering. A batch
    no shard knows is logged at debug level (the provider already has its 2xx, so it
    does not retry). ``announce(event, woken)`` hears of each event once handled.
    """

    async def wake(event: BatchEvent) -> None:
        woken = await asyncio.to_thread(store.wake_job, event.batch_id, clock())
        if woken:
            where = ", ".join(f"{run_id}/{shard_id}" for run_id, shard_id in woken)
            log.info("webhook for %s woke %s", event.batch_id, where)
        else:
            log.debug("webhook for %s: no shard in the store runs that batch", event.batch_id)
        if announce is not None:
            announce(event, woken)

    return wake
