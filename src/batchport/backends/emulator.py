"""The ``emulator`` backend: the embedded local emulator, driven over real HTTP.

Without ``url`` the backend starts :class:`batchport_emulator.Emulator` on a loopback
port at first use and stops it in :meth:`EmulatorBackend.aclose`; with ``url`` it
attaches to an emulator that is already running. Either way it *is* the
:class:`~batchport.backends.openai.OpenAIBackend`, with its SDK client created once
the emulator listens, so tests and demos exercise the production path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from batchport.backends.files import FileBackend
from batchport.backends.openai import OpenAIBackend
from batchport.errors import ConfigError
from batchport.logs import redact_url

if TYPE_CHECKING:
    from batchport_emulator import Emulator

__all__ = ["EmulatorBackend"]


class EmulatorBackend(OpenAIBackend):
    """Batches on a local emulator.

    ``config`` is an ``EmulatorConfig`` (or a dict it accepts) for the embedded emulator;
    ``responder`` an optional emulator responder. ``url`` (e.g. ``http://127.0.0.1:8080``)
    attaches to a running emulator instead; ``config`` and ``responder`` are then
    refused. ``api_key`` is what the SDK sends; the embedded emulator accepts any key.
    ``max_retries`` (0: the runner retries) and ``timeout`` go to the SDK client.

    Raises :class:`ConfigError` on conflicting arguments, and when first used if the
    embedded emulator cannot be imported or the backend is closed.
    """

    name: ClassVar[str] = "emulator"
    provider: ClassVar[str] = "openai"
    poll_interval_hint: ClassVar[float | None] = 0.05

    def __init__(
        self,
        config: Any = None,
        *,
        url: str | None = None,
        api_key: str = "sk-emulator",
        responder: Any = None,
        max_retries: int = 0,
        timeout: float | None = None,
    ) -> None:
        if url is not None and (config is not None or responder is not None):
            raise ConfigError("EmulatorBackend: give either url= or config=/responder=")
        FileBackend.__init__(self, None, owns_client=True)
        self._config = config
        self._responder = responder
        self._url = url.rstrip("/") if url else None
        self._api_key = api_key
        self._max_retries = max_retries
        self._timeout = timeout
        self._emulator: Emulator | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        where = self._url or (self._emulator.url if self._emulator else "not started")
        where = redact_url(where)
        return f"EmulatorBackend(url={where!r}, embedded={self._url is None!r})"

    @property
    def embedded(self) -> bool:
        """True when this backend runs its own emulator, which ends with the process."""
        return self._url is None

    def settings(self) -> Mapping[str, Any]:
        """The URL of the emulator attached to (an embedded one cannot be found again),
        without a password or a credential parameter (``?token=...``)."""
        return {"url": redact_url(self._url, drop=True)} if self._url else {}

    @property
    def emulator(self) -> Emulator | None:
        """The embedded emulator once started (None when attached by url or not started).

        Tests use it to configure faults and move the virtual clock.
        """
        return self._emulator

    async def start(self) -> Self:
        """Start the embedded emulator (or attach) now; idempotent. Returns the backend."""
        await self._sdk()
        return self

    async def _sdk(self) -> AsyncOpenAI:
        if self._closed:
            raise ConfigError("EmulatorBackend is closed")
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                kwargs: dict[str, Any] = {"max_retries": self._max_retries}
                if self._timeout is not None:
                    kwargs["timeout"] = self._timeout
                base_url = await self._base_url()
                if base_url.startswith("http://"):
                    # no TLS on the way: spare the tens of milliseconds the SDK's
                    # default client takes to load the system's certificates
                    kwargs["http_client"] = DefaultAsyncHttpxClient(verify=False)
                self._client = AsyncOpenAI(api_key=self._api_key, base_url=base_url, **kwargs)
            return self._client

    async def _base_url(self) -> str:
        if self._url is not None:
            return self._url if self._url.endswith("/v1") else self._url + "/v1"
        try:
            from batchport_emulator import Emulator
        except ImportError as exc:  # the emulator ships with batchport; a broken install
            raise ConfigError(f"the embedded emulator cannot be imported: {exc}") from exc
        emulator = Emulator(self._config, responder=self._responder)
        await emulator.__aenter__()
        self._emulator = emulator
        return str(emulator.base_url)

    async def aclose(self) -> None:
        """Close the SDK client, then stop the embedded emulator. Safe to call twice."""
        if self._closed:
            return
        emulator, self._emulator = self._emulator, None
        try:
            await super().aclose()
        finally:
            if emulator is not None:
                await emulator.__aexit__(None, None, None)
