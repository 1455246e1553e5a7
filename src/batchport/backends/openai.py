"""The ``openai`` backend: OpenAI's Files and Batch API through the official ``AsyncOpenAI``.

Uploads stream from disk: the SDK reads a ``Path`` whole into memory, but passes an open
binary file object through to the HTTP layer, which sends it in 64 KiB chunks (and
rewinds it on a retry). So :meth:`OpenAIBackend.upload_file` hands the SDK a
``(name, file object, content type)`` tuple. Downloads use the SDK's streaming response.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, cast

import openai
from openai import AsyncOpenAI

from batchport.backends._convert import batch_job_from_dict, file_ref_from_dict
from batchport.backends._translate import translating
from batchport.backends.base import Backend, BatchJob, FileRef
from batchport.errors import BackendError, ConfigError, InputError

__all__ = ["OpenAIBackend"]

_JSONL = "application/jsonl"


class OpenAIBackend(Backend):
    """Batches on OpenAI (or any server speaking its API, such as the emulator).

    Pass a ready ``client`` (it is then never closed here), or let the backend build
    one from ``api_key``/``base_url``/``organization``/``project``; omitted values come
    from ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID`` and
    ``OPENAI_PROJECT_ID`` as the SDK reads them. ``max_retries`` is the SDK's own retry
    of transport errors, 408/409/429 and 5xx; this backend adds none. ``timeout`` is in
    seconds per request; None keeps the SDK default (600 s).

    Raises :class:`ConfigError` when no API key can be found.
    """

    name: ClassVar[str] = "openai"
    provider: ClassVar[str] = "openai"
    #: bytes per chunk yielded by :meth:`stream_file`
    stream_chunk_size: ClassVar[int] = 64 * 1024

    def __init__(
        self,
        client: AsyncOpenAI | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_retries: int = 2,
        timeout: float | None = None,
    ) -> None:
        self._owns_client = client is None
        if client is None:
            kwargs: dict[str, Any] = {
                "api_key": api_key,
                "base_url": base_url,
                "organization": organization,
                "project": project,
                "max_retries": max_retries,
            }
            if timeout is not None:
                kwargs["timeout"] = timeout
            try:
                client = AsyncOpenAI(**kwargs)
            except openai.OpenAIError as exc:
                raise ConfigError("no OpenAI API key: pass api_key= or set OPENAI_API_KEY") from exc
        self._client = client
        self._closed = False

    @property
    def client(self) -> AsyncOpenAI:
        """The SDK client in use."""
        return self._client

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={str(self._client.base_url)!r}, "
            f"owns_client={self._owns_client!r})"
        )

    def _secrets(self) -> tuple[str, ...]:
        key = getattr(self._client, "api_key", None)
        return (key,) if isinstance(key, str) and key else ()

    def _translating(self) -> Any:
        return translating(self.provider, self._secrets())

    async def upload_file(self, path: Path, *, expires_after_s: int | None = None) -> FileRef:
        """Upload ``path`` with purpose ``batch``, streamed in 64 KiB chunks.

        ``expires_after_s`` sets the file's expiry (seconds after creation). Raises
        :class:`InputError` (rule ``file_not_readable``) when the file cannot be opened.
        """
        path = Path(path)
        try:
            fh = await asyncio.to_thread(path.open, "rb")
        except OSError as exc:
            raise InputError(
                exc.strerror or "cannot open", path=str(path), rule="file_not_readable"
            ) from None
        extra: dict[str, Any] = {}
        if expires_after_s is not None:
            extra["expires_after"] = {"anchor": "created_at", "seconds": expires_after_s}
        try:
            with self._translating():
                obj = await self._client.files.create(
                    file=(path.name, cast(BinaryIO, fh), _JSONL), purpose="batch", **extra
                )
        finally:
            fh.close()
        return self._file_ref(obj)

    async def retrieve_file(self, file_id: str) -> FileRef:
        with self._translating():
            obj = await self._client.files.retrieve(file_id)
        return self._file_ref(obj)

    async def create_batch(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        metadata: Mapping[str, str] | None = None,
        completion_window: str = "24h",
        output_expires_after_s: int | None = None,
    ) -> BatchJob:
        extra: dict[str, Any] = {}
        if metadata is not None:
            extra["metadata"] = dict(metadata)
        if output_expires_after_s is not None:
            extra["output_expires_after"] = {
                "anchor": "created_at",
                "seconds": output_expires_after_s,
            }
        # Creating a batch is not idempotent and the API takes no idempotency key, so
        # the SDK must not silently repeat it: a retry could leave two paid batches.
        # The runner decides, after looking for the batch by its metadata tags.
        with self._translating():
            obj = await self._client.with_options(max_retries=0).batches.create(
                input_file_id=input_file_id,
                endpoint=cast(Any, endpoint),
                completion_window=cast(Any, completion_window),
                **extra,
            )
        return self._batch_job(obj)

    async def retrieve_batch(self, batch_id: str) -> BatchJob:
        with self._translating():
            obj = await self._client.batches.retrieve(batch_id)
        return self._batch_job(obj)

    async def cancel_batch(self, batch_id: str) -> BatchJob:
        with self._translating():
            obj = await self._client.batches.cancel(batch_id)
        return self._batch_job(obj)

    async def list_batches(
        self, *, metadata: Mapping[str, str] | None = None, page_size: int = 100
    ) -> AsyncIterator[BatchJob]:
        """Iterate batches newest first, ``page_size`` per request (1..100).

        OpenAI has no server-side metadata filter, so ``metadata`` is applied here: a
        batch is yielded when its metadata contains every given key with that value.
        """
        wanted = dict(metadata or {})
        with self._translating():
            async for obj in self._client.batches.list(limit=page_size):
                job = self._batch_job(obj)
                if all(job.metadata.get(k) == v for k, v in wanted.items()):
                    yield job

    async def list_files(self, *, purpose: str | None = "batch") -> AsyncIterator[FileRef]:
        """Iterate files newest first, optionally only those of ``purpose``."""
        extra: dict[str, Any] = {"purpose": purpose} if purpose else {}
        with self._translating():
            async for obj in self._client.files.list(order="desc", **extra):
                yield self._file_ref(obj)

    async def stream_file(self, file_id: str) -> AsyncIterator[bytes]:
        """Yield the file's bytes in chunks of at most :attr:`stream_chunk_size`.

        Close the iterator (``contextlib.aclosing``) when stopping early, so the
        connection is released at once.
        """
        with self._translating():
            files = self._client.files.with_streaming_response
            async with files.content(file_id) as response:
                async for chunk in response.iter_bytes(self.stream_chunk_size):
                    yield chunk

    async def delete_file(self, file_id: str) -> None:
        with self._translating():
            result = await self._client.files.delete(file_id)
        if not result.deleted:
            raise BackendError(f"file {file_id} was not deleted", provider=self.provider)

    async def aclose(self) -> None:
        """Close the SDK client if this backend created it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.close()

    def _batch_job(self, obj: openai.BaseModel) -> BatchJob:
        return batch_job_from_dict(obj.model_dump(mode="json"))

    def _file_ref(self, obj: openai.BaseModel) -> FileRef:
        return file_ref_from_dict(obj.model_dump(mode="json"))
