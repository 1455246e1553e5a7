"""The ``gemini`` backend: the Gemini Developer API's Batch API through ``google-genai``.

What differs from the other wires, and how it is bridged:

- **requests**: :meth:`GeminiBackend.prepare_request` turns chat/responses requests into
  ``generateContent`` bodies (:mod:`.translate`), ``models`` mapping OpenAI model names;
- **two input modes**: a shard whose create body fits under :attr:`GeminiBackend.inline_limit`
  (20 MB, less a margin) goes inline; a larger one is written as ``{key, request}``
  lines, uploaded through the Files API (resumable) in :meth:`GeminiBackend.stage`, and
  named by the create;
- **results by key**: every result carries the caller's custom_id as its key (inline
  ``metadata.key``, file line ``key``) and is joined on it, never by position;
- **status**: ``BATCH_STATE_*`` (and the SDK's ``JOB_STATE_*``, ``PARTIALLY_SUCCEEDED``
  included) map onto the neutral statuses; progress comes from the operation's
  ``batchStats``, which the SDK's ``BatchJob`` drops, so operations are read raw through
  the SDK's client; an expired job has no results, so its rows are expired and
  retryable;
- **adoption**: creation is not idempotent and a batch has no metadata, but it has a
  display name: the backend sets it to ``<run>.<shard>.<submit>`` and records its
  create intent first, so :meth:`GeminiBackend.find` recognises a batch whose answer was
  lost (``docs/backends.md`` says what remains).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import tempfile
from collections.abc import AsyncGenerator, Collection, Iterator, Mapping
from contextlib import aclosing, contextmanager
from typing import IO, Any, ClassVar

import orjson
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from batchport.backends._env import pairs_from_env
from batchport.backends._intent import (
    CREATE_INTENT,
    intent_since,
    record_intent,
    recorded_job,
)
from batchport.backends._translate import _never_connected, _redact_obj, redact
from batchport.backends.base import Backend, Checkpoint, RealtimeAccess
from batchport.backends.gemini.results import parse_item, parse_line
from batchport.backends.lines import line_chunks
from batchport.backends.models import (
    BatchError,
    Job,
    JobStatus,
    RequestCounts,
    ResultRow,
    ShardSpec,
)
from batchport.errors import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    ConfigError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from batchport.limits import get_profile
from batchport.requests import Request

__all__ = [
    "CREATE_INTENT",
    "STATUS_MAP",
    "GeminiBackend",
    "env_models",
    "job_from_operation",
    "make_client",
]

log = logging.getLogger("batchport.backends.gemini")

#: wire and SDK states onto the neutral statuses (anything else is ``UNKNOWN``)
STATUS_MAP: Mapping[str, JobStatus] = {
    "BATCH_STATE_PENDING": JobStatus.VALIDATING,
    "BATCH_STATE_RUNNING": JobStatus.IN_PROGRESS,
    "BATCH_STATE_SUCCEEDED": JobStatus.COMPLETED,
    "BATCH_STATE_FAILED": JobStatus.FAILED,
    "BATCH_STATE_CANCELLED": JobStatus.CANCELLED,
    "BATCH_STATE_EXPIRED": JobStatus.EXPIRED,
    "JOB_STATE_QUEUED": JobStatus.VALIDATING,
    "JOB_STATE_PENDING": JobStatus.VALIDATING,
    "JOB_STATE_RUNNING": JobStatus.IN_PROGRESS,
    "JOB_STATE_SUCCEEDED": JobStatus.COMPLETED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": JobStatus.COMPLETED,
    "JOB_STATE_FAILED": JobStatus.FAILED,
    "JOB_STATE_CANCELLING": JobStatus.CANCELLING,
    "JOB_STATE_CANCELLED": JobStatus.CANCELLED,
    "JOB_STATE_EXPIRED": JobStatus.EXPIRED,
}
#: checkpoint keys: the uploaded input file, the create intent, the batch it made
FILE_NAME = "file_name"
BATCH_NAME = "batch_name"
MODELS_ENV = "BATCHPORT_GEMINI_MODELS"
BASE_URL_ENV = "GEMINI_BASE_URL"
#: inline create bodies stay under this: the service's 20 MB per request, less 5 %
INLINE_LIMIT = int((get_profile("gemini").max_inline_bytes or 20_000_000) * 0.95)
#: the API version the Batch API lives under
API_VERSION = "v1beta"
_HTTP_ERRORS: Mapping[int, type[BackendError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    408: TransportError,
    409: ConflictError,
    429: RateLimitError,
}


#: ``google.rpc.ErrorInfo`` reasons of a 400 that refuses the API key itself
_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})


def _key_refused(details: object) -> bool:
    """Whether an error body (``{"error": {..., "details": [ErrorInfo...]}}``) says the
    API key was refused: Google answers a wrong key with a 400 ``INVALID_ARGUMENT``
    whose ``ErrorInfo`` reason is ``API_KEY_INVALID``, not with a 401."""
    inner = details.get("error") if isinstance(details, Mapping) else None
    infos = inner.get("details") if isinstance(inner, Mapping) else None
    if not isinstance(infos, list):
        return False
    return any(isinstance(i, Mapping) and i.get("reason") in _KEY_REASONS for i in infos)


def _seconds(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:  # RFC 3339 with up to nanoseconds: keep microseconds for fromisoformat
        head, _, frac = value.rstrip("Z").partition(".")
        text = head + ("." + frac[:6] if frac else "") + "+00:00"
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _int(value: object) -> int:
    if type(value) is int:
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else 0


def _meta(op: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = op.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def job_from_operation(op: Mapping[str, Any]) -> Job:
    """The neutral job for a batch operation as the API sends it (raw JSON)."""
    meta = _meta(op)
    name = str(op.get("name") or meta.get("name") or "")
    state = str(meta.get("state") or "")
    status = STATUS_MAP.get(state, JobStatus.UNKNOWN)
    stats = meta.get("batchStats")
    stats = stats if isinstance(stats, Mapping) else {}
    counts = RequestCounts(
        _int(stats.get("requestCount")),
        _int(stats.get("successfulRequestCount")),
        _int(stats.get("failedRequestCount")),
    )
    refs: dict[str, str] = {}
    output = meta.get("output")
    if not isinstance(output, Mapping):
        response = op.get("response")
        output = response if isinstance(response, Mapping) else {}
    if isinstance(output.get("responsesFile"), str):
        refs["responses_file"] = output["responsesFile"]
    elif "inlinedResponses" in output:
        refs["inline"] = "1"
    errors: tuple[BatchError, ...] = ()
    err = op.get("error")
    if isinstance(err, Mapping):
        code = err.get("status") or f"code_{err.get('code')}"
        errors = (BatchError(str(code), str(err.get("message") or "")),)
    if status is JobStatus.EXPIRED:  # "will not have any results to retrieve"
        counts = RequestCounts(counts.total)
    created = _seconds(meta.get("createTime"))
    return Job(
        id=name,
        status=status,
        counts=counts,
        refs=refs,
        errors=errors,
        created_at=created,
        expires_at=created + 48 * 3600 if created is not None else None,
        metadata={"display_name": str(meta.get("displayName") or "")},
        raw=op,
    )


def env_models() -> dict[str, str]:
    """``BATCHPORT_GEMINI_MODELS='model=gemini-model,...'`` as a mapping (empty if unset)."""
    return pairs_from_env(MODELS_ENV, "model=gemini-model")


def make_client(api_key: str, base_url: str | None = None, timeout: float | None = None) -> Any:
    """A ``google.genai.Client`` as the backend uses it: API version ``v1beta`` (the
    Batch and Files APIs live there; the SDK defaults to ``v1``), no SDK retries (the
    runner retries on its clock), and the httpx transport (the SDK's aiohttp one
    subclasses ``aiohttp.ClientSession``, which aiohttp deprecates)."""
    import httpx2

    options = genai_types.HttpOptions(
        base_url=base_url,
        api_version=API_VERSION,
        retry_options=genai_types.HttpRetryOptions(attempts=1),
        timeout=int(timeout * 1000) if timeout is not None else None,
        httpx_async_client=httpx2.AsyncClient(timeout=timeout),
    )
    return genai.Client(api_key=api_key, http_options=options)


def display_name(spec: ShardSpec) -> str:
    """The batch's display name: what :meth:`GeminiBackend.find` looks for."""
    return f"{spec.run_id}.{spec.shard_id}.{spec.submit}"


class GeminiBackend(Backend):
    """Batches on the Gemini Developer API (or a server speaking it, such as the
    emulator's Gemini dialect).

    Pass a ready ``client`` (a ``google.genai.Client``; never closed here), or let the
    backend build one from ``api_key`` (default ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``,
    as the SDK reads them) and ``base_url`` (default ``GEMINI_BASE_URL``). ``models``
    maps OpenAI model names of translated requests to Gemini models (default:
    ``BATCHPORT_GEMINI_MODELS='gpt-4o-mini=gemini-2.5-flash,...'``). ``inline_limit`` is
    the largest create body sent inline, in bytes. ``timeout`` is in seconds per request.

    Raises :class:`ConfigError` when no API key can be found.
    """

    name: ClassVar[str] = "gemini"
    provider: ClassVar[str] = "gemini"
    sends_webhooks: ClassVar[bool] = True
    #: batches find() looks at before it gives up
    scan_limit: ClassVar[int] = 2000

    def __init__(
        self,
        client: genai.Client | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        models: Mapping[str, str] | None = None,
        max_tokens: int | None = None,
        inline_limit: int = INLINE_LIMIT,
        timeout: float | None = None,
        adopt_skew_s: float = 600.0,
    ) -> None:
        self.models = dict(models) if models is not None else env_models()
        self.max_tokens = max_tokens
        self.inline_limit = inline_limit
        self.adopt_skew_s = adopt_skew_s
        base_url = base_url or os.environ.get(BASE_URL_ENV) or None
        self._settings: dict[str, Any] = {"models": self.models, "inline_limit": inline_limit}
        if max_tokens is not None:
            self._settings["max_tokens"] = max_tokens
        if base_url and "@" not in base_url:
            self._settings["base_url"] = base_url
        self._base_url = base_url
        if client is not None:
            self._client, self._owns_client = client, False
            return
        key = api_key or os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        if not key:
            raise ConfigError("no Gemini API key: pass api_key= or set GEMINI_API_KEY")
        self._client, self._owns_client = make_client(key, base_url, timeout), True

    @property
    def client(self) -> genai.Client:
        return self._client

    def __repr__(self) -> str:
        return f"GeminiBackend(base_url={self._base_url!r})"

    async def realtime(self) -> RealtimeAccess | None:
        """The same client on ``generateContent`` (shard lines are its bodies already)."""
        return RealtimeAccess(self._client)

    def settings(self) -> Mapping[str, Any]:
        """The base URL, model map and limits given (never the key)."""
        return dict(self._settings)

    def _secrets(self) -> tuple[str, ...]:
        key = getattr(self._client._api_client, "api_key", None)
        return (key,) if isinstance(key, str) and key else ()

    @contextmanager
    def _translating(self) -> Iterator[None]:
        try:
            yield
        except genai_errors.APIError as exc:
            raise self._error(exc) from exc
        except (OSError, TimeoutError) as exc:  # aiohttp and httpx transport errors
            raise TransportError(redact(str(exc), self._secrets()), provider=self.provider) from exc
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "aiohttp"):
                secrets = self._secrets()
                raise TransportError(
                    redact(f"{type(exc).__name__}: {exc}", secrets),
                    provider=self.provider,
                    connect_failed=_never_connected(exc),
                ) from exc
            raise

    def _error(self, exc: genai_errors.APIError) -> BackendError:
        secrets = self._secrets()
        code = int(exc.code or 0)
        message = redact(exc.message or f"HTTP {code}", secrets)
        payload = _redact_obj(exc.details, secrets) if isinstance(exc.details, Mapping) else {}
        cls = _HTTP_ERRORS.get(code) or (
            ServerError if code >= 500 else BadRequestError if code >= 400 else BackendError
        )
        if code == 400 and _key_refused(exc.details):  # a wrong key is a 400 at Google
            cls = AuthenticationError
        exc.args = (redact(str(exc.args[0]), secrets),) if exc.args else ()
        return cls(
            message,
            provider=self.provider,
            status_code=code or None,
            code=exc.status,
            payload=payload,
        )

    async def _raw(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request through the SDK's own client (auth, base URL, API version), the
        answer as raw JSON: the SDK's typed objects drop ``batchStats``."""
        with self._translating():
            response = await self._client.aio._api_client.async_request(
                method, path, body or {}, {"api_version": API_VERSION}
            )
        return orjson.loads(response.body) if response.body else {}

    # -- requests ------------------------------------------------------------------------
    def prepare_request(self, request: Request) -> Request:
        """A ``generateContent`` body for a chat/responses request (see :mod:`.translate`)."""
        from batchport.backends.gemini.translate import to_generate_content

        return to_generate_content(request, self.models, default_max_tokens=self.max_tokens)

    # -- staging and submission ---------------------------------------------------------
    def _inline(self, spec: ShardSpec) -> bool:
        return spec.bytes + 64 * spec.rows <= self.inline_limit

    async def stage(self, spec: ShardSpec, checkpoint: Checkpoint) -> None:
        """Upload a shard too large to go inline, as ``{key, request}`` lines."""
        if self._inline(spec) or checkpoint.get(FILE_NAME):
            return
        with tempfile.TemporaryFile() as tmp:
            with spec.open() as fh:
                for line in fh:
                    req = orjson.loads(line)
                    body = dict(req["body"])
                    body.pop("model", None)
                    tmp.write(orjson.dumps({"key": req["custom_id"], "request": body}))
                    tmp.write(b"\n")
            tmp.seek(0)
            config = genai_types.UploadFileConfig(mime_type="jsonl", display_name=spec.filename)
            with self._translating():
                uploaded = await self._client.aio.files.upload(file=tmp, config=config)
        checkpoint.set(FILE_NAME, str(uploaded.name))

    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        """Create the shard's batch (inline, or from its staged file). The create intent
        is recorded first and the batch name right after."""
        if not self._inline(spec):
            await self.stage(spec, checkpoint)
        file_name = checkpoint.get(FILE_NAME)
        source: dict[str, Any]
        if file_name and not self._inline(spec):
            source = {"fileName": file_name}
        else:
            source = {"requests": {"requests": _inline_requests(spec)}}
        body = {"batch": {"displayName": display_name(spec), "inputConfig": source}}
        model = spec.model or ""
        record_intent(checkpoint)
        op = await self._raw("post", f"models/{model}:batchGenerateContent", body)
        job = job_from_operation(op)
        checkpoint.set(BATCH_NAME, job.id)
        return job

    async def find(self, spec: ShardSpec, checkpoint: Mapping[str, str]) -> Job | None:
        """The batch this shard's last submit created, if any: the recorded name, else
        the newest batch created since the create intent (less ``adopt_skew_s``) whose
        display name is the shard's and which holds the shard's number of requests."""
        if checkpoint.get(BATCH_NAME):
            return await recorded_job(self, checkpoint, BATCH_NAME)
        since, wanted = intent_since(checkpoint, self.adopt_skew_s), display_name(spec)
        if since is None:
            return None
        best: Job | None = None
        async for job in self._list():
            if job.metadata.get("display_name") != wanted:
                continue
            if job.counts.total not in (0, spec.rows):  # 0: stats not reported yet
                continue
            if job.created_at is not None and job.created_at < since:
                continue
            if best is None or (job.created_at or 0) > (best.created_at or 0):
                best = job
        return best

    async def _list(self) -> AsyncGenerator[Job, None]:
        token, seen = "", 0
        while True:
            path = "batches?pageSize=100" + (f"&pageToken={token}" if token else "")
            page = await self._raw("get", path)
            for op in page.get("operations") or []:
                seen += 1
                if seen > self.scan_limit:
                    return
                if isinstance(op, Mapping):
                    yield job_from_operation(op)
            token = page.get("nextPageToken") or ""
            if not token:
                return

    # -- the job -------------------------------------------------------------------------
    async def poll(self, job: Job) -> Job:
        return job_from_operation(await self._raw("get", _batch_path(job.id)))

    async def cancel(self, job: Job) -> Job:
        """Ask for the cancel; Gemini has no "cancelling" state, so a job still running
        once the cancel is accepted is reported as cancelling."""
        await self._raw("post", f"{_batch_path(job.id)}:cancel")
        polled = await self.poll(job)
        if polled.status.is_terminal:
            return polled
        return dataclasses.replace(polled, status=JobStatus.CANCELLING)

    async def results(self, job: Job) -> AsyncGenerator[ResultRow, None]:
        """Every result of a finished batch, inline or from its result file, streamed
        and judged. An expired batch has none."""
        if job.status is JobStatus.EXPIRED:
            return
        file_name = job.refs.get("responses_file")
        if file_name is None and "inline" not in job.refs:
            # a summary kept by the runner may lack refs: read the operation again
            job = await self.poll(job)
            file_name = job.refs.get("responses_file")
        if file_name:
            async for row in self._file_rows(file_name):
                yield row
            return
        op = job.raw if job.raw else await self._raw("get", _batch_path(job.id))
        items = _inlined(op)
        source = f"batch {job.id}"
        for i, item in enumerate(items, 1):
            yield parse_item(item, raw=orjson.dumps(item), source=source, line=i)

    async def _file_rows(self, file_name: str) -> AsyncGenerator[ResultRow, None]:
        with tempfile.TemporaryFile() as tmp:
            with self._translating():
                await self._client.aio.files.download(file=file_name, destination=tmp)
            tmp.seek(0)
            async with aclosing(line_chunks(_chunks_of(tmp))) as parts:
                async for first, lines in parts:
                    for lineno, raw in enumerate(lines, first):
                        if raw.strip():
                            yield parse_line(raw, source=file_name, line=lineno)

    async def release(self, job: Job | None, checkpoint: Mapping[str, str]) -> None:
        """Delete the shard's uploaded input and its result file; failures are logged."""
        names = [checkpoint.get(FILE_NAME), job.refs.get("responses_file") if job else None]
        for name in dict.fromkeys(n for n in names if n):
            await self._delete_quietly(name)

    async def sweep(self, run_id: str, keep: Collection[str]) -> int:
        """Delete uploads named ``<run_id>.…`` that no shard recorded."""
        prefix, orphans = f"{run_id}.", []
        with self._translating():
            async for f in await self._client.aio.files.list(config={"page_size": 100}):
                if (f.display_name or "").startswith(prefix) and f.name not in keep:
                    orphans.append(str(f.name))
        deleted = 0
        for name in orphans:
            log.info("deleting orphaned upload %s", name)
            deleted += await self._delete_quietly(name)
        return deleted

    async def _delete_quietly(self, name: str) -> bool:
        try:
            with self._translating():
                await self._client.aio.files.delete(name=name)
        except NotFoundError:
            return False
        except BackendError as exc:
            log.warning("could not delete file %s: %s", name, exc)
            return False
        return True

    async def aclose(self) -> None:
        """Close the SDK client's connections if this backend created it."""
        if self._owns_client:
            self._owns_client = False
            await self._client.aio.aclose()
            transport = self._client._api_client._http_options.httpx_async_client
            if transport is not None:
                await transport.aclose()
            self._client.close()


def _batch_path(name: str) -> str:
    return name if name.startswith("batches/") else f"batches/{name}"


def _inlined(op: Mapping[str, Any]) -> list[Any]:
    """The inline responses of a finished operation (under ``metadata.output`` or the
    operation's ``response``)."""
    for holder in (_meta(op).get("output"), op.get("response")):
        if isinstance(holder, Mapping):
            inner = holder.get("inlinedResponses")
            if isinstance(inner, Mapping):
                inner = inner.get("inlinedResponses")
            if isinstance(inner, list):
                return inner
    return []


def _inline_requests(spec: ShardSpec) -> list[dict[str, Any]]:
    out = []
    with spec.open() as fh:
        for line in fh:
            req = orjson.loads(line)
            body = dict(req["body"])
            body.pop("model", None)
            out.append({"request": body, "metadata": {"key": req["custom_id"]}})
    return out


async def _chunks_of(f: IO[bytes]) -> AsyncGenerator[bytes, None]:
    """A downloaded file's bytes, 256 KiB at a time."""
    while chunk := f.read(256 * 1024):
        yield chunk
