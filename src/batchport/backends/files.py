"""The OpenAI-shaped file base: upload a shard, create a batch on it, read result files.

OpenAI, Azure and the embedded emulator share this wire (Files and Batch resources
through the ``openai`` SDK), so its mechanics live here once:

- **wire primitives** over an ``AsyncOpenAI`` client: :meth:`FileBackend.upload_file`,
  ``retrieve_file``, ``list_files``, ``delete_file``, ``stream_file``,
  ``create_batch``, ``retrieve_batch``, ``cancel_batch``, ``list_batches``;
- **the seam** on top of them: :meth:`~FileBackend.submit` uploads once per shard
  (recording the upload in the runner's checkpoint, adopting an upload a crash left
  behind) and creates the batch tagged with the shard's tags; :meth:`~FileBackend.find`
  looks a batch up by those tags; :meth:`~FileBackend.results` streams the output file,
  then the error file, through the subclass's line parser; :meth:`~FileBackend.release`
  and :meth:`~FileBackend.sweep` delete what the shard or a crash left stored.

A subclass supplies :attr:`~FileBackend.STATUS_MAP` (its status vocabulary onto
:class:`~batchport.backends.models.JobStatus`) and :meth:`~FileBackend.parse_line`.
Uploads stream: the SDK gets a ``(name, file object, content type)`` tuple, which it
sends in 64 KiB chunks (a ``Path`` would be read whole into memory).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Collection, Iterator, Mapping
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, cast

import openai
from openai import AsyncOpenAI

from batchport.backends._convert import QUOTA_CODE, as_int, job_from_dict
from batchport.backends._translate import header_error, translate_error
from batchport.backends.base import Backend, Checkpoint
from batchport.backends.lines import line_chunks
from batchport.backends.models import Job, JobStatus, ResultRow, ShardSpec
from batchport.errors import (
    BackendError,
    ConfigError,
    InputError,
    NotFoundError,
    QuotaExceededError,
)
from batchport.logs import redact_url

__all__ = ["FILE_ID", "UPLOAD", "FileBackend", "FileRef"]

log = logging.getLogger(__name__)

#: checkpoint key: the uploaded input file's id
FILE_ID = "file_id"
#: checkpoint key: set before an upload starts, so a crash mid-upload is noticed
UPLOAD = "upload"
_JSONL = "application/jsonl"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file stored at the provider. ``status`` is e.g. ``processed`` or Azure's
    ``pending``; timestamps are unix seconds."""

    id: str
    bytes: int
    filename: str
    purpose: str
    status: str | None = None
    created_at: int | None = None
    expires_at: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FileRef:
        """Normalize a File object (OpenAI or Azure shape)."""
        stamps = [raw.get(k) for k in ("created_at", "expires_at")]
        return cls(
            id=str(raw.get("id") or ""),
            bytes=as_int(raw.get("bytes")),
            filename=str(raw.get("filename") or ""),
            purpose=str(raw.get("purpose") or ""),
            status=raw.get("status") if isinstance(raw.get("status"), str) else None,
            created_at=as_int(stamps[0]) if stamps[0] is not None else None,
            expires_at=as_int(stamps[1]) if stamps[1] is not None else None,
            raw=dict(raw),
        )


class FileBackend(Backend):
    """A backend on the OpenAI Files and Batch API shape, over an ``AsyncOpenAI`` client.

    ``client`` is the SDK client to use (closed in :meth:`aclose` only when
    ``owns_client``). A subclass may pass None and override :meth:`_sdk` to create
    one on first use. The client must not retry on its own: the runner retries on
    its injected clock, and a repeated create could leave two paid batches.
    """

    #: the provider's batch statuses (lower case) onto the neutral ones
    STATUS_MAP: ClassVar[Mapping[str, JobStatus]]
    #: bytes per chunk yielded by :meth:`stream_file`
    stream_chunk_size: ClassVar[int] = 64 * 1024
    #: how many files or batches a lookup (adoption, find, sweep) looks at, newest first
    scan_limit: ClassVar[int] = 5000

    def __init__(self, client: AsyncOpenAI | None = None, *, owns_client: bool = False) -> None:
        self._client = client
        self._owns_client = owns_client
        self._closed = False

    @property
    def client(self) -> AsyncOpenAI:
        """The SDK client in use. Raises :class:`ConfigError` before it exists."""
        if self._client is None:
            raise ConfigError(f"{type(self).__name__} has no client yet (not started)")
        return self._client

    async def _sdk(self) -> AsyncOpenAI:
        """The client for the next wire call; subclasses may create it here on first use."""
        return self.client

    def _secrets(self) -> tuple[str, ...]:
        key = getattr(self._client, "api_key", None)
        return (key,) if isinstance(key, str) and key else ()

    @contextmanager
    def _translating(self) -> Iterator[None]:
        # Secrets are read when an error happens, not before the call: a bearer token
        # may be fetched during the request it authorizes.
        try:
            yield
        except openai.OpenAIError as exc:
            raise translate_error(exc, provider=self.provider, secrets=self._secrets()) from exc
        except UnicodeEncodeError:  # a header (the key) HTTP cannot carry; its text holds it
            raise header_error(self.provider) from None

    @abc.abstractmethod
    def parse_line(self, raw: bytes, *, source: str, line: int) -> ResultRow:
        """Judge one non-blank line of an output or error file (``source``: its file
        id, ``line``: 1-based). Raises :class:`~batchport.errors.ResultLineError`."""

    def job_from_dict(self, raw: Mapping[str, Any]) -> Job:
        """A Batch object as a :class:`Job`, through this backend's :attr:`STATUS_MAP`."""
        return job_from_dict(raw, self.STATUS_MAP)

    # -- wire primitives ----------------------------------------------------------
    async def upload_file(self, spec: ShardSpec) -> FileRef:
        """Upload the shard's lines as ``spec.filename`` with purpose ``batch``, streamed
        from ``spec.open()``; ``spec.file_expires_after_s`` sets the file's expiry.

        Raises :class:`InputError` (rule ``file_not_readable``) when it cannot be opened.
        """
        try:
            fh = await asyncio.to_thread(spec.open)
        except OSError as exc:
            raise InputError(
                exc.strerror or "cannot open", path=spec.filename, rule="file_not_readable"
            ) from None
        extra: dict[str, Any] = {}
        if spec.file_expires_after_s is not None:
            extra["expires_after"] = {"anchor": "created_at", "seconds": spec.file_expires_after_s}
        try:
            client = await self._sdk()
            with self._translating():
                obj = await client.files.create(
                    file=(spec.filename, fh, _JSONL), purpose="batch", **extra
                )
        finally:
            fh.close()
        return FileRef.from_dict(obj.model_dump(mode="json"))

    async def retrieve_file(self, file_id: str) -> FileRef:
        client = await self._sdk()
        with self._translating():
            obj = await client.files.retrieve(file_id)
        return FileRef.from_dict(obj.model_dump(mode="json"))

    async def list_files(self, *, purpose: str | None = "batch") -> AsyncGenerator[FileRef, None]:
        """Files newest first, optionally only those of ``purpose``."""
        extra: dict[str, Any] = {"purpose": purpose} if purpose else {}
        client = await self._sdk()
        with self._translating():
            async for obj in client.files.list(order="desc", **extra):
                yield FileRef.from_dict(obj.model_dump(mode="json"))

    async def delete_file(self, file_id: str) -> None:
        client = await self._sdk()
        with self._translating():
            result = await client.files.delete(file_id)
        if not result.deleted:
            raise BackendError(f"file {file_id} was not deleted", provider=self.provider)

    async def stream_file(self, file_id: str) -> AsyncGenerator[bytes, None]:
        """The file's bytes in chunks of at most :attr:`stream_chunk_size`. Close the
        generator (``contextlib.aclosing``) when stopping early, to free the connection."""
        client = await self._sdk()
        size = self.stream_chunk_size
        with self._translating():
            async with client.files.with_streaming_response.content(file_id) as response:
                # the chunks as they arrive (asking the SDK for a size costs three
                # copies), cut only when over the size: a whole slice is the chunk itself
                async for chunk in response.iter_bytes():
                    for at in range(0, len(chunk), size):
                        yield chunk[at : at + size]

    async def create_batch(self, spec: ShardSpec, file_id: str) -> Job:
        """Create the batch for ``spec`` on the uploaded ``file_id``, tagged with
        ``spec.tags``. Sent exactly once: the API takes no idempotency key, so a retry
        could leave two paid batches; the runner decides after :meth:`find`."""
        client = (await self._sdk()).with_options(max_retries=0)
        with self._translating():
            obj = await client.batches.create(
                input_file_id=file_id,
                endpoint=cast(Any, spec.endpoint),
                completion_window=cast(Any, spec.completion_window),
                metadata=dict(spec.tags),
            )
        return self.job_from_dict(obj.model_dump(mode="json"))

    async def retrieve_batch(self, batch_id: str) -> Job:
        client = await self._sdk()
        with self._translating():
            obj = await client.batches.retrieve(batch_id)
        return self.job_from_dict(obj.model_dump(mode="json"))

    async def cancel_batch(self, batch_id: str) -> Job:
        client = await self._sdk()
        with self._translating():
            obj = await client.batches.cancel(batch_id)
        return self.job_from_dict(obj.model_dump(mode="json"))

    async def list_batches(
        self, *, metadata: Mapping[str, str] | None = None, page_size: int = 100
    ) -> AsyncGenerator[Job, None]:
        """Batches newest first, ``page_size`` per request (1..100). The API has no
        metadata filter, so ``metadata`` is applied here: a batch is yielded when its
        metadata holds every given key with that value."""
        wanted = dict(metadata or {})
        client = await self._sdk()
        with self._translating():
            async for obj in client.batches.list(limit=page_size):
                job = self.job_from_dict(obj.model_dump(mode="json"))
                if all(job.metadata.get(k) == v for k, v in wanted.items()):
                    yield job

    # -- the seam -------------------------------------------------------------------
    async def stage(self, spec: ShardSpec, checkpoint: Checkpoint) -> None:
        """Upload the shard ahead of its turn to be created (once; see :meth:`submit`)."""
        if not checkpoint.get(FILE_ID):
            await self._upload_once(spec, checkpoint)

    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        """Upload the shard (once: an upload recorded in ``checkpoint`` is reused, one a
        crash interrupted is adopted by name and size), then create its batch.

        An enqueued-token quota refusal at create (Azure's fail-fast form) returns a
        ``FAILED`` job with :attr:`Job.requeue` set and an empty id; the upload stays
        recorded for the next submit.
        """
        file_id = checkpoint.get(FILE_ID) or await self._upload_once(spec, checkpoint)
        try:
            try:
                return await self.create_batch(spec, file_id)
            except NotFoundError:  # the recorded upload is gone (deleted, expired): once more
                log.warning("shard %s: upload %s is gone; uploading again", spec.shard_id, file_id)
                checkpoint.set(FILE_ID, None)
                checkpoint.set(UPLOAD, None)
                return await self.create_batch(spec, await self._upload_once(spec, checkpoint))
        except QuotaExceededError as exc:
            return Job(
                id="",
                status=JobStatus.FAILED,
                requeue=exc.message or QUOTA_CODE,
                retry_after=exc.retry_after,
            )

    async def _upload_once(self, spec: ShardSpec, checkpoint: Checkpoint) -> str:
        if checkpoint.get(UPLOAD):
            found = await self.find_upload(spec)
            if found is not None:
                log.info("shard %s: adopted upload %s", spec.shard_id, found.id)
                checkpoint.set(FILE_ID, found.id)
                return found.id
        checkpoint.set(UPLOAD, "started")
        ref = await self.upload_file(spec)
        checkpoint.set(FILE_ID, ref.id)
        return ref.id

    async def find_upload(self, spec: ShardSpec) -> FileRef | None:
        """The newest upload named ``spec.filename`` of ``spec.bytes`` bytes, if any
        (among the :attr:`scan_limit` newest files)."""
        return await self._first(
            self.list_files(), lambda f: f.filename == spec.filename and f.bytes == spec.bytes
        )

    async def find(self, spec: ShardSpec, checkpoint: Mapping[str, str]) -> Job | None:
        """The newest batch whose metadata holds every tag of ``spec.tags`` (among the
        :attr:`scan_limit` newest); None when ``spec`` has no tags."""
        if not spec.tags:
            return None
        tags = dict(spec.tags)
        return await self._first(
            self.list_batches(), lambda j: all(j.metadata.get(k) == v for k, v in tags.items())
        )

    async def _first(self, items: AsyncGenerator[T, None], match: Callable[[T], bool]) -> T | None:
        async with aclosing(self._scan(items)) as scan:
            async for item in scan:
                if match(item):
                    return item
        return None

    async def _scan(self, items: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
        """The first :attr:`scan_limit` items; ``items`` is closed when done."""
        async with aclosing(items):
            seen = 0
            async for item in items:
                yield item
                seen += 1
                if seen >= self.scan_limit:
                    return

    async def poll(self, job: Job) -> Job:
        return await self.retrieve_batch(job.id)

    async def cancel(self, job: Job) -> Job:
        return await self.cancel_batch(job.id)

    async def results(self, job: Job) -> AsyncGenerator[ResultRow, None]:
        """The output file's rows, then the error file's (either may be absent or empty)."""
        for name in ("output", "error"):
            file_id = job.refs.get(name)
            if not file_id:
                continue
            # one generator level per row: a chunk's lines are parsed in a plain loop
            async with aclosing(line_chunks(self.stream_file(file_id))) as parts:
                async for first, lines in parts:
                    for lineno, raw in enumerate(lines, first):
                        if raw.strip():
                            yield self.parse_line(raw, source=file_id, line=lineno)

    async def release(self, job: Job | None, checkpoint: Mapping[str, str]) -> None:
        """Delete the shard's upload and its job's result files; failures are logged."""
        ids = [checkpoint.get(FILE_ID), *(job.refs.values() if job is not None else ())]
        for file_id in dict.fromkeys(i for i in ids if i):
            await self._delete_quietly(file_id)

    async def sweep(self, run_id: str, keep: Collection[str]) -> int:
        """Delete uploads named ``<run_id>.…`` (among the :attr:`scan_limit` newest
        files) whose id is not in ``keep``. Returns how many were deleted."""
        prefix = f"{run_id}."
        orphans = [
            ref
            async for ref in self._scan(self.list_files())
            if ref.filename.startswith(prefix) and ref.id not in keep
        ]
        deleted = 0
        for ref in orphans:
            log.info("deleting orphaned upload %s (%s)", ref.id, ref.filename)
            deleted += await self._delete_quietly(ref.id)
        return deleted

    async def _delete_quietly(self, file_id: str) -> bool:
        try:
            await self.delete_file(file_id)
        except NotFoundError:
            return False
        except BackendError as exc:
            log.warning("could not delete file %s: %s", file_id, exc)
            return False
        return True

    async def aclose(self) -> None:
        """Close the SDK client if this backend created it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client and self._client is not None:
            await self._client.close()

    def __repr__(self) -> str:
        where = redact_url(str(self._client.base_url)) if self._client is not None else None
        return f"{type(self).__name__}(base_url={where!r}, owns_client={self._owns_client!r})"
