"""Running the emulator: in an event loop (:class:`Emulator`) or on a thread.

Both bind ``config.host`` (127.0.0.1) on ``config.port`` (0 picks a free port)
and expose ``url``, ``base_url`` (``url + "/v1"``, for ``OpenAI(base_url=...)``)
and ``port``, plus conveniences that call the same state methods as the
``/_emulator`` control endpoints: ``configure``, ``advance_clock``, ``batches``
and ``reset``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from batchport_emulator.app import ResponderLike, create_app
from batchport_emulator.app.keys import STATE
from batchport_emulator.app.parse_errors import EnvelopeRunner
from batchport_emulator.config import EmulatorConfig, coerce_config
from batchport_emulator.state import EmulatorState

T = TypeVar("T")
ConfigLike = EmulatorConfig | Mapping[str, Any] | None


class Emulator:
    """The emulator as an async context manager::

    async with Emulator() as emu:
        client = AsyncOpenAI(base_url=emu.base_url, api_key="test")
    """

    def __init__(self, config: ConfigLike = None, *, responder: ResponderLike | None = None):
        self.config = coerce_config(config)
        self._responder = responder
        self._runner: web.AppRunner | None = None
        self._state: EmulatorState | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``http://HOST:PORT``; only meaningful once started."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-dialect base URL, ``url + "/v1"``."""
        return self.url + "/v1"

    @property
    def state(self) -> EmulatorState:
        if self._state is None:
            raise RuntimeError("the emulator is not running")
        return self._state

    async def start(self) -> None:
        """Bind and serve; raises ``OSError`` if the port is taken."""
        app = create_app(self.config, responder=self._responder)
        self._state = app[STATE]
        # an idle connection, or one still sending its headers, is closed after this
        runner = EnvelopeRunner(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.config.read_timeout_s,
        )
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except BaseException:
            await self.stop()
            raise
        address = runner.addresses[0]
        self.port = int(address[1])

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- conveniences (same code path as /_emulator) ---------------------------

    def configure(self, patch: Mapping[str, Any]) -> None:
        """Deep-merge ``patch`` into the running config; raises ``ValidationError``."""
        self.state.configure(patch)

    def advance_clock(self, seconds: float) -> None:
        """Move the virtual clock forward by ``seconds``."""
        self.state.advance_clock(seconds)

    def batches(self) -> list[dict[str, Any]]:
        """Every batch of every dialect, oldest first (as ``GET /_emulator/batches``)."""
        return self.state.batch_summaries()

    def reset(self) -> None:
        """Forget all files and batches."""
        self.state.reset()


class EmulatorThread:
    """The emulator on a background thread, as a sync context manager::

    with EmulatorThread() as emu:
        client = OpenAI(base_url=emu.base_url, api_key="test")
    """

    def __init__(
        self,
        config: ConfigLike = None,
        *,
        responder: ResponderLike | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        self._emulator = Emulator(config, responder=responder)
        self._timeout = start_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    config = property(lambda self: self._emulator.config)
    url = property(lambda self: self._emulator.url)
    base_url = property(lambda self: self._emulator.base_url)
    port = property(lambda self: self._emulator.port)

    def start(self) -> None:
        """Start the thread and wait until the server listens (re-raises start errors)."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._emulator.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=main, name="batchport-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(self._timeout):
            raise TimeoutError("the emulator did not start in time")
        if failure:
            self._join()
            raise failure[0]

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(self._timeout)
            self._thread = None
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self._emulator.stop(), loop).result(self._timeout)
            loop.call_soon_threadsafe(loop.stop)
        self._join()

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, fn: Callable[[], T]) -> T:
        if self._loop is None:
            raise RuntimeError("the emulator is not running")

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(self._timeout)

    def configure(self, patch: Mapping[str, Any]) -> None:
        """Deep-merge ``patch`` into the running config; raises ``ValidationError``."""
        self._call(lambda: self._emulator.configure(patch))

    def advance_clock(self, seconds: float) -> None:
        self._call(lambda: self._emulator.advance_clock(seconds))

    def batches(self) -> list[dict[str, Any]]:
        return self._call(self._emulator.batches)

    def reset(self) -> None:
        self._call(self._emulator.reset)
