"""The ``anthropic`` backend: Message Batches through the official ``AsyncAnthropic``.

What differs from the OpenAI-shaped backends, and how it is bridged:

- **no files**: a shard's requests go inline in one ``POST /v1/messages/batches``,
  streamed from the shard's file as ``{"requests": [{custom_id, params}, …]}``, so a
  256 MB shard is never held in memory;
- **requests**: :meth:`AnthropicBackend.prepare_request` turns chat/responses requests
  into Messages params (:mod:`.translate`), with ``models`` mapping OpenAI model names;
- **ids**: a caller id Anthropic refuses is sent as a provider-safe id (:mod:`.ids`) and
  mapped back through :meth:`~batchport.backends.base.Backend.provider_id`;
- **status**: ``processing_status`` has three values; ``ended`` becomes ``cancelled``
  when a cancel was asked for, ``expired`` when every request expired, else
  ``completed``. Per-request outcomes live in the result lines (:mod:`.results`);
  ``request_counts`` other than ``processing`` stay 0 until the batch ends;
- **no metadata**: a batch cannot be found by tags. :meth:`AnthropicBackend.submit`
  records the time of its create intent in the shard's checkpoint first (and the
  batch id as soon as it has one); after a crash in between,
  :meth:`AnthropicBackend.find` looks at batches created since that time with the
  shard's request count, and checks the ids of those that ended. ``docs/backends.md``
  says exactly what this guarantees.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar

import orjson
from anthropic import AsyncAnthropic
from anthropic.types.messages import MessageBatch

from batchport.backends._env import pairs_from_env
from batchport.backends._intent import (
    CREATE_INTENT,
    intent_since,
    record_intent,
    recorded_job,
)
from batchport.backends.anthropic.errors import translating
from batchport.backends.anthropic.ids import shard_tag, wire_id
from batchport.backends.anthropic.results import parse_line
from batchport.backends.base import Backend, Checkpoint, RealtimeAccess
from batchport.backends.lines import line_chunks
from batchport.backends.models import (
    ALL_MODELS,
    Job,
    JobStatus,
    QuotaLimit,
    RequestCounts,
    ResultRow,
    ShardSpec,
)
from batchport.errors import BackendError, ConfigError, NotFoundError, RunError
from batchport.limits import get_profile
from batchport.requests import Request

__all__ = ["CREATE_INTENT", "STATUS_MAP", "AnthropicBackend", "env_models", "job_from_batch"]

log = logging.getLogger("batchport.backends.anthropic")

#: ``processing_status`` onto the neutral statuses; ``ended`` is refined by the batch
STATUS_MAP: Mapping[str, JobStatus] = {
    "in_progress": JobStatus.IN_PROGRESS,
    "canceling": JobStatus.CANCELLING,
    "ended": JobStatus.COMPLETED,
}
#: checkpoint keys: when the create was about to be sent, and the batch it made
BATCH_ID = "batch_id"
MODELS_ENV = "BATCHPORT_ANTHROPIC_MODELS"
_PATH = "/v1/messages/batches"
_CHUNK = 256 * 1024


def _epoch(value: datetime.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def job_from_batch(batch: MessageBatch) -> Job:
    """The neutral job for a ``MessageBatch``."""
    c = batch.request_counts
    total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
    status = STATUS_MAP.get(batch.processing_status, JobStatus.UNKNOWN)
    if status is JobStatus.COMPLETED:
        if batch.cancel_initiated_at is not None:
            status = JobStatus.CANCELLED
        elif total and c.expired == total:
            status = JobStatus.EXPIRED
    return Job(
        id=batch.id,
        status=status,
        counts=RequestCounts(total, c.succeeded, c.errored),
        refs={"results_url": batch.results_url} if batch.results_url else {},
        created_at=_epoch(batch.created_at),
        expires_at=_epoch(batch.expires_at),
        raw=batch.model_dump(mode="json"),
    )


class AnthropicBackend(Backend):
    """Message Batches on Anthropic (or any server speaking its API, such as the
    emulator's Anthropic dialect).

    Pass a ready ``client`` (never closed here; a copy with SDK retries off is used), or
    let the backend build one from ``api_key``/``base_url``; omitted values come from
    ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` as the SDK reads them. ``models``
    maps the OpenAI model names of translated requests to Claude models (default:
    ``BATCHPORT_ANTHROPIC_MODELS='gpt-4o-mini=claude-haiku-4-5,...'``);
    ``max_tokens`` is the default for requests that set none (Anthropic requires one).
    ``queue_tier`` (``start``, ``build``, ``scale``) or ``max_queued_requests`` caps the
    requests this run keeps in Anthropic's batch processing queue at once (shards wait
    their turn); None leaves it to the provider's 429s.
    ``adopt_skew_s`` widens the window in which :meth:`find` looks for a batch created
    before a crash, for a clock that differs from the provider's.

    Raises :class:`ConfigError` when no API key can be found.
    """

    name: ClassVar[str] = "anthropic"
    provider: ClassVar[str] = "anthropic"
    sends_webhooks: ClassVar[bool] = False  # none for message batches
    #: batches that find() looks at, newest first, before it gives up
    scan_limit: ClassVar[int] = 2000

    def __init__(
        self,
        client: AsyncAnthropic | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        models: Mapping[str, str] | None = None,
        max_tokens: int = 4096,
        queue_tier: str | None = None,
        max_queued_requests: int | None = None,
        max_retries: int = 0,
        timeout: float | None = None,
        adopt_skew_s: float = 600.0,
    ) -> None:
        self.models = dict(models) if models is not None else env_models()
        self.max_tokens = max_tokens
        self.adopt_skew_s = adopt_skew_s
        if max_queued_requests is None and queue_tier is not None:
            tiers = get_profile("anthropic").max_queued_requests
            if queue_tier.lower() not in tiers:
                known = ", ".join(tiers)
                raise ConfigError(f"queue_tier {queue_tier!r}: known tiers are {known}")
            max_queued_requests = tiers[queue_tier.lower()]
        self.max_queued_requests = max_queued_requests
        self._settings: dict[str, Any] = {"models": self.models, "max_tokens": max_tokens}
        if max_queued_requests is not None:
            self._settings["max_queued_requests"] = max_queued_requests
        if base_url and "@" not in base_url:  # a URL carrying a password is a secret
            self._settings["base_url"] = base_url
        self._closed = False
        if client is not None:
            self._client = client.with_options(max_retries=0)
            self._owns_client = False
            return
        kwargs: dict[str, Any] = {"base_url": base_url, "max_retries": max_retries}
        if api_key is not None:
            kwargs["api_key"] = api_key
        if timeout is not None:
            kwargs["timeout"] = timeout
        built = AsyncAnthropic(**kwargs)
        if not built.api_key and not built.auth_token:
            raise ConfigError("no Anthropic API key: pass api_key= or set ANTHROPIC_API_KEY")
        self._client, self._owns_client = built, True

    @property
    def client(self) -> AsyncAnthropic:
        return self._client

    def __repr__(self) -> str:
        return f"AnthropicBackend(base_url={str(self._client.base_url)!r})"

    async def realtime(self) -> RealtimeAccess | None:
        """The same client on ``/v1/messages`` (shard lines are Messages already)."""
        return RealtimeAccess(self._client)

    def settings(self) -> Mapping[str, Any]:
        """The base URL, model map and default ``max_tokens`` (never the key)."""
        return dict(self._settings)

    def _secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._client.api_key, self._client.auth_token) if s)

    def _translating(self) -> Any:
        return translating(self.provider, self._secrets())

    # -- requests ------------------------------------------------------------------------
    def prepare_request(self, request: Request) -> Request:
        """Messages params for a chat/responses request (see :mod:`.translate`)."""
        from batchport.backends.anthropic.translate import to_messages

        return to_messages(request, self.models, default_max_tokens=self.max_tokens)

    def quota_limits(self) -> Mapping[str, QuotaLimit]:
        """The processing-queue cap, in requests, shared by every model."""
        if self.max_queued_requests is None:
            return {}
        return {ALL_MODELS: QuotaLimit(self.max_queued_requests, unit="requests")}

    def provider_id(self, spec: ShardSpec, custom_id: str, pos: int) -> str:
        return wire_id(_tag(spec.run_id, spec.shard_id), custom_id, pos)

    # -- submit and find -----------------------------------------------------------------
    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        """Create the shard's batch, its requests streamed from the shard file.

        The create intent is recorded first and the batch id right after, so that
        :meth:`find` can recognise the batch if the answer is lost."""
        record_intent(checkpoint)
        with self._translating():
            batch = await self._client.post(
                _PATH,
                cast_to=MessageBatch,
                content=_request_body(spec),
                options={"headers": {"content-type": "application/json"}},
            )
        checkpoint.set(BATCH_ID, batch.id)
        return job_from_batch(batch)

    async def find(self, spec: ShardSpec, checkpoint: Mapping[str, str]) -> Job | None:
        """The batch this shard's last submit created, if any.

        Recorded id first. Otherwise, when a create was intended: among the batches
        created since the intent (less ``adopt_skew_s``) that hold exactly the shard's
        number of requests and is no other shard's (``spec.other_jobs``), one that has
        ended and whose results carry exactly the shard's ids; failing that, the only
        one still running. Several running candidates cannot be told apart yet:
        :class:`RunError`, which stops the run with the shard's rows unsettled (resume
        it once they have ended), rather than adopting the wrong one or paying twice.
        """
        if checkpoint.get(BATCH_ID):
            return await recorded_job(self, checkpoint, BATCH_ID)
        since = intent_since(checkpoint, self.adopt_skew_s)
        if since is None:
            return None
        running: list[Job] = []
        expected: frozenset[str] | None = None
        async for job in self._recent(since):
            if job.counts.total != spec.rows or job.id in spec.other_jobs:
                continue
            if not job.status.is_terminal:
                running.append(job)
                continue
            if expected is None:
                expected = _wire_ids(spec)
            if await self._holds(job, expected):
                return job
        if len(running) == 1:
            return running[0]
        if running:
            ids = ", ".join(j.id for j in running)
            # not the shard's failure: the run stops, resumable, its rows unsettled
            raise RunError(
                f"shard {spec.shard_id}: {len(running)} batches created since its create "
                f"was sent hold {spec.rows} requests ({ids}); which one is this shard's "
                "can be checked once they have ended: resume the run then"
            )
        return None

    async def _recent(self, since: float) -> AsyncGenerator[Job, None]:
        seen = 0
        with self._translating():
            page = await self._client.messages.batches.list(limit=100)
            async for batch in page:
                seen += 1
                if batch.created_at.timestamp() < since or seen > self.scan_limit:
                    return
                yield job_from_batch(batch)

    async def _holds(self, job: Job, expected: frozenset[str]) -> bool:
        seen: set[str] = set()
        try:
            async with aclosing(self.results(job)) as rows:
                async for row in rows:
                    if row.custom_id not in expected or row.custom_id in seen:
                        return False
                    seen.add(row.custom_id)
        except NotFoundError:
            return False
        return len(seen) == len(expected)

    # -- the job -------------------------------------------------------------------------
    async def poll(self, job: Job) -> Job:
        with self._translating():
            batch = await self._client.messages.batches.retrieve(job.id)
        return job_from_batch(batch)

    async def cancel(self, job: Job) -> Job:
        with self._translating():
            batch = await self._client.messages.batches.cancel(job.id)
        return job_from_batch(batch)

    async def results(self, job: Job) -> AsyncGenerator[ResultRow, None]:
        """The batch's result lines, streamed and judged (one generator level per row)."""
        source = f"batch {job.id}"
        async with aclosing(line_chunks(self._result_chunks(job))) as parts:
            async for first, lines in parts:
                for lineno, raw in enumerate(lines, first):
                    if raw.strip():
                        yield parse_line(raw, source=source, line=lineno)

    async def _result_chunks(self, job: Job) -> AsyncGenerator[bytes, None]:
        # through the SDK's own results call (it looks the results URL up first), read raw
        streaming = self._client.messages.batches.with_streaming_response
        with self._translating():
            async with streaming.results(job.id) as response:
                # as the chunks arrive: asking the SDK for a size costs three copies
                async for chunk in response.iter_bytes():
                    yield chunk

    async def release(self, job: Job | None, checkpoint: Mapping[str, str]) -> None:
        """Delete the ended batch and its results at Anthropic; failures are logged."""
        if job is None or not job.status.is_terminal:
            return
        try:
            with self._translating():
                await self._client.messages.batches.delete(job.id)
        except NotFoundError:
            return
        except BackendError as exc:
            log.warning("could not delete batch %s: %s", job.id, exc)

    async def aclose(self) -> None:
        """Close the SDK client if this backend created it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.close()


def env_models() -> dict[str, str]:
    """``BATCHPORT_ANTHROPIC_MODELS='model=claude-model,...'`` as a mapping (empty if
    unset). Raises :class:`ConfigError` for an entry that is not ``model=claude-model``."""
    return pairs_from_env(MODELS_ENV, "model=claude-model")


@functools.lru_cache(maxsize=256)
def _tag(run_id: str, shard_id: str) -> str:
    return shard_tag(run_id, shard_id)


async def _request_body(spec: ShardSpec) -> AsyncIterator[bytes]:
    """``{"requests": [{custom_id, params}, …]}`` from the shard's request lines, in
    chunks, with each id made provider-safe."""
    tag = _tag(spec.run_id, spec.shard_id)
    buf = bytearray(b'{"requests":[')
    with spec.open() as fh:
        for pos, line in enumerate(fh, 1):
            req = orjson.loads(line)
            entry = {"custom_id": wire_id(tag, req["custom_id"], pos), "params": req["body"]}
            if pos > 1:
                buf += b","
            buf += orjson.dumps(entry)
            if len(buf) >= _CHUNK:
                yield bytes(buf)
                buf.clear()
    buf += b"]}"
    yield bytes(buf)


def _wire_ids(spec: ShardSpec) -> frozenset[str]:
    tag = _tag(spec.run_id, spec.shard_id)
    with spec.open() as fh:
        return frozenset(
            wire_id(tag, orjson.loads(line)["custom_id"], pos) for pos, line in enumerate(fh, 1)
        )
