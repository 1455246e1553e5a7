"""A webhook receiver on loopback for the emulator's webhook tests."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

SECRET = "whsec_" + base64.b64encode(b"emulator-webhook-test-key").decode()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(self.body)
        return data


@dataclass
class Receiver:
    """Records every POST; answers the scripted statuses first, then 200."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(dict(request.headers), body, request.path))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """Wait until ``count`` requests have arrived (fails the test after the timeout)."""
        await until(lambda: len(self.received) >= count, timeout_s)
        return self.received


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 (the emulator's state has no event to await)
            await asyncio.sleep(0.01)


async def start_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    receiver.url = str(server.make_url("/hooks"))
    try:
        yield receiver
    finally:
        await server.close()
