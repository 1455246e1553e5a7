"""The provider seam: one small async interface in the runner's vocabulary.

The runner asks a backend to **submit** a prepared shard, to **find** a job it may
have submitted before a crash, to **poll** a job, to read its **results** as neutral
rows, to **cancel** it, and to **release** what it stored at the provider. A backend
translates: its own wire, status map, result-line parser and outcome classification
live behind these calls (models in :mod:`batchport.backends.models`). It never polls,
shards or retries rows — that is the runner's job — and its SDK client makes no
retries of its own: the runner retries on its injected clock. Errors leave a backend
only as :mod:`batchport.errors` types.

File mechanics (upload, adoption of an upload after a crash, orphan sweep) live in
:class:`batchport.backends.files.FileBackend`, shared by the OpenAI-shaped providers.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from batchport.backends.models import Job, QuotaLimit, ResultRow, ShardSpec

if TYPE_CHECKING:
    from batchport.requests import Request

__all__ = ["Backend", "Checkpoint", "RealtimeAccess"]


@dataclass(frozen=True, slots=True)
class RealtimeAccess:
    """What the realtime executor needs to serve a shard's rows synchronously: an SDK
    client it drives (``AsyncOpenAI``, ``AsyncAnthropic`` or a google-genai client, its
    own retries off) and whether OpenAI's ``service_tier="flex"`` is offered. Shard
    lines are already translated for the provider, so no translation is needed."""

    client: Any
    flex: bool = False


class Checkpoint(Protocol):
    """A shard's durable scratchpad at the runner, for a backend's own steps.

    :meth:`set` commits before it returns, so a backend records an intent ("about to
    upload") before a remote call and its result (a file id) right after; after a
    crash, :meth:`get` tells the backend where it stopped. Values are short strings.
    """

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str | None) -> None: ...


class Backend(abc.ABC):
    """A batch provider. Use as ``async with backend:`` or call :meth:`aclose`.

    Every method raises :class:`batchport.errors.BackendError` subclasses on failure
    (``NotFoundError`` for unknown ids, ``QuotaExceededError`` when a submission is
    refused for quota at once).
    """

    #: registry name, e.g. "openai", "azure", "emulator"
    name: ClassVar[str]
    #: provider profile name in :data:`batchport.limits.PROVIDERS`
    provider: ClassVar[str]
    #: a first poll interval (seconds) that suits this backend, when the run sets none
    poll_interval_hint: ClassVar[float | None] = None
    #: whether the provider sends batch webhooks (see :class:`batchport.WebhookOptions`);
    #: a run given webhooks on a backend without them just polls
    sends_webhooks: ClassVar[bool] = False

    async def stage(self, spec: ShardSpec, checkpoint: Checkpoint) -> None:  # noqa: B027
        """Send what can go ahead of the job (a file upload), recording it in
        ``checkpoint``. The runner stages shards freely and then submits them one at a
        time per model; :meth:`submit` stages whatever is not staged yet. Default: nothing.
        """

    @abc.abstractmethod
    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        """Send the shard to the provider and start its job.

        Called again after a failure or a crash with the same ``checkpoint``; only
        after :meth:`find` found nothing, so what was done before (an upload, say) is
        reused, never repeated.
        """

    async def find(self, spec: ShardSpec, checkpoint: Mapping[str, str]) -> Job | None:
        """The job submitted for ``spec`` (same ``tags``), if the provider has one.

        The runner calls this before submitting again after a failed or interrupted
        submit; ``checkpoint`` holds what :meth:`submit` recorded (an intent to create,
        say), for a provider whose jobs carry no tags. A provider that cannot look jobs
        up returns None (the default); its documentation must say that a crash between
        create and commit can leave a second job.
        """
        return None

    def provider_id(self, spec: ShardSpec, custom_id: str, pos: int) -> str:
        """The id the provider sees for the request at 1-based ``pos`` of ``spec``, when
        the caller's ``custom_id`` does not fit the provider's rules; result rows come
        back under it and the runner maps them to the caller's id. Default: the
        caller's id unchanged."""
        return custom_id

    @abc.abstractmethod
    async def poll(self, job: Job) -> Job:
        """The job's current state."""

    @abc.abstractmethod
    def results(self, job: Job) -> AsyncIterator[ResultRow]:
        """Every result row of a terminal job, streamed, each judged by this backend.

        Raises :class:`batchport.errors.ResultLineError` for a line it cannot read.
        """

    @abc.abstractmethod
    async def cancel(self, job: Job) -> Job:
        """Ask the provider to cancel; returns the job (usually ``cancelling``)."""

    async def release(self, job: Job | None, checkpoint: Mapping[str, str]) -> None:  # noqa: B027
        """Delete what the shard stored at the provider (input, results); best effort.
        ``checkpoint`` holds what :meth:`submit` recorded. The default does nothing."""

    async def sweep(self, run_id: str, keep: Collection[str]) -> int:
        """Delete what a crash left at the provider for ``run_id`` (an upload no shard
        recorded), except anything named in ``keep``. Returns how many were deleted."""
        return 0

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release clients and credentials. Safe to call twice."""

    # -- hooks with neutral defaults --------------------------------------------------
    def prepare_request(self, request: Request) -> Request:
        """Translate one request for this provider as its shard line is written (Azure:
        model name -> deployment, url form). ``custom_id`` never changes.

        Raises :class:`batchport.errors.InputError` for what cannot be translated.
        """
        return request

    async def realtime(self) -> RealtimeAccess | None:
        """The synchronous route to the same provider, for a deadline's fallback; None
        (the default) when this backend has none (the runner then refuses a deadline)."""
        return None

    def quota_limits(self) -> Mapping[str, QuotaLimit]:
        """Enqueued-token limits the runner must respect, by provider model name."""
        return {}

    def settings(self) -> Mapping[str, Any]:
        """Non-secret constructor arguments (JSON values) that rebuild this backend: a
        base URL, a deployment map. The run records them, so ``resume``, ``wait`` and
        ``cancel`` reach the same place without being told again. Never a key."""
        return {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
