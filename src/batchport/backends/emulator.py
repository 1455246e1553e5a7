"""The ``emulator`` backend: the embedded local emulator, driven over real HTTP.

Without ``url`` the backend starts :class:`batchport_emulator.Emulator` on a loopback
port at first use and stops it in :meth:`EmulatorBackend.aclose`; with ``url`` it
attaches to an emulator that is already running. Either way every call goes through
:class:`~batchport.backends.openai.OpenAIBackend` and the official SDK, so tests and
demos exercise the production path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from batchport.backends.base import Backend, BatchJob, FileRef
from batchport.backends.openai import OpenAIBackend
from batchport.errors import ConfigError

if TYPE_CHECKING:
    from batchport_emulator import Emulator

__all__ = ["EmulatorBackend"]


class EmulatorBackend(Backend):
    """Batches on a local emulator.

    ``config`` is an ``EmulatorConfig`` (or a dict it accepts) for the embedded emulator;
    ``responder`` an optional emulator responder. ``url`` (e.g. ``http://127.0.0.1:8080``)
    attaches to a running emulator instead; ``config`` and ``responder`` are then
    refused. ``api_key`` is what the SDK sends; the embedded emulator accepts any key.
    ``max_retries`` and ``timeout`` go to the SDK client.

    Raises :class:`ConfigError` on conflicting arguments, and when first used if the
    embedded emulator cannot be imported.
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
        max_retries: int = 2,
        timeout: float | None = None,
    ) -> None:
        if url is not None and (config is not None or responder is not None):
            raise ConfigError("EmulatorBackend: give either url= or config=/responder=")
        self._config = config
        self._responder = responder
        self._url = url.rstrip("/") if url else None
        self._api_key = api_key
        self._max_retries = max_retries
        self._timeout = timeout
        self._emulator: Emulator | None = None
        self._inner: OpenAIBackend | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        where = self._url or (self._emulator.url if self._emulator else "not started")
        return f"EmulatorBackend(url={where!r}, embedded={self._url is None!r})"

    @property
    def emulator(self) -> Emulator | None:
        """The embedded emulator once started (None when attached by url or not started).

        Tests use it to configure faults and move the virtual clock.
        """
        return self._emulator

    async def start(self) -> OpenAIBackend:
        """Start the embedded emulator (or attach) now; idempotent. Returns the
        OpenAI backend that does the work."""
        if self._closed:
            raise ConfigError("EmulatorBackend is closed")
        async with self._lock:
            if self._inner is None:
                base_url = await self._base_url()
                self._inner = OpenAIBackend(
                    api_key=self._api_key,
                    base_url=base_url,
                    max_retries=self._max_retries,
                    timeout=self._timeout,
                )
            return self._inner

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

    async def upload_file(self, path: Path, *, expires_after_s: int | None = None) -> FileRef:
        return await (await self.start()).upload_file(path, expires_after_s=expires_after_s)

    async def retrieve_file(self, file_id: str) -> FileRef:
        return await (await self.start()).retrieve_file(file_id)

    async def create_batch(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        metadata: Mapping[str, str] | None = None,
        completion_window: str = "24h",
        output_expires_after_s: int | None = None,
    ) -> BatchJob:
        return await (await self.start()).create_batch(
            input_file_id=input_file_id,
            endpoint=endpoint,
            metadata=metadata,
            completion_window=completion_window,
            output_expires_after_s=output_expires_after_s,
        )

    async def retrieve_batch(self, batch_id: str) -> BatchJob:
        return await (await self.start()).retrieve_batch(batch_id)

    async def cancel_batch(self, batch_id: str) -> BatchJob:
        return await (await self.start()).cancel_batch(batch_id)

    async def list_batches(
        self, *, metadata: Mapping[str, str] | None = None, page_size: int = 100
    ) -> AsyncIterator[BatchJob]:
        inner = await self.start()
        it = inner.list_batches(metadata=metadata, page_size=page_size)
        async with aclosing(cast(AsyncGenerator[BatchJob, None], it)):
            async for job in it:
                yield job

    async def list_files(self, *, purpose: str | None = "batch") -> AsyncIterator[FileRef]:
        inner = await self.start()
        it = inner.list_files(purpose=purpose)
        async with aclosing(cast(AsyncGenerator[FileRef, None], it)):
            async for ref in it:
                yield ref

    async def stream_file(self, file_id: str) -> AsyncIterator[bytes]:
        inner = await self.start()
        it = inner.stream_file(file_id)
        async with aclosing(cast(AsyncGenerator[bytes, None], it)):
            async for chunk in it:
                yield chunk

    async def delete_file(self, file_id: str) -> None:
        await (await self.start()).delete_file(file_id)

    async def aclose(self) -> None:
        """Close the SDK client, then stop the embedded emulator. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        inner, emulator = self._inner, self._emulator
        self._inner = self._emulator = None
        try:
            if inner is not None:
                await inner.aclose()
        finally:
            if emulator is not None:
                await emulator.__aexit__(None, None, None)
