"""The provider seam: one small async interface and the normalized objects it returns.

A backend *translates*: it turns these calls into one provider's wire calls and the
provider's answers into the frozen models below, keeping the raw payload. It never
polls, shards or retries rows — that is the runner's job. Errors leave a backend only
as :mod:`batchport.errors` types.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from batchport.requests import Request

__all__ = [
    "Backend",
    "BatchError",
    "BatchJob",
    "BatchStatus",
    "FileRef",
    "QuotaLimit",
    "RequestCounts",
    "Usage",
]


class BatchStatus(StrEnum):
    """The eight statuses both providers report, plus ``UNKNOWN`` for anything new."""

    VALIDATING = "validating"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True for states a batch never leaves: completed, failed, expired, cancelled."""
        return self in _TERMINAL

    @classmethod
    def parse(cls, value: object) -> BatchStatus:
        """Map a provider's status string (any case, US or UK 'cancelled') onto the enum."""
        if not isinstance(value, str):
            return cls.UNKNOWN
        norm = (
            value.strip()
            .lower()
            .replace("canceled", "cancelled")
            .replace("canceling", "cancelling")
        )
        try:
            return cls(norm)
        except ValueError:
            return cls.UNKNOWN


_TERMINAL = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """Rows in a batch: ``total`` once validated; ``completed`` 2xx; ``failed`` non-2xx.

    Rows never run (after expiry or cancel) count in neither ``completed`` nor ``failed``.
    """

    total: int = 0
    completed: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage summed over a batch's completed rows (or one row)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True, slots=True)
class BatchError:
    """One entry of a failed batch's ``errors.data``; ``line`` is 1-based or None."""

    code: str
    message: str
    param: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file stored at the provider. ``status`` is e.g. 'processed' or Azure's 'pending'."""

    id: str
    bytes: int
    filename: str
    purpose: str
    status: str | None = None
    created_at: int | None = None
    expires_at: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A provider batch, normalized. Timestamps are unix seconds or None; ``raw`` is the
    provider's payload as received."""

    id: str
    status: BatchStatus
    endpoint: str | None
    input_file_id: str
    model: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    request_counts: RequestCounts = field(default_factory=RequestCounts)
    created_at: int | None = None
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    usage: Usage | None = None
    errors: tuple[BatchError, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class QuotaLimit:
    """An enqueued-token limit for one model or deployment name.

    With ``dynamic`` on, the service may accept work above ``tokens`` (Azure's dynamic
    quota); the runner then lets everything through and backs off when refused.
    """

    tokens: int
    dynamic: bool = False


class Backend(abc.ABC):
    """A batch provider. Use as ``async with backend:`` or call :meth:`aclose`.

    Every method raises :class:`batchport.errors.BackendError` subclasses on failure;
    ``NotFoundError`` for unknown ids.
    """

    #: registry name, e.g. "openai", "azure", "emulator"
    name: ClassVar[str]
    #: provider profile name in :data:`batchport.limits.PROVIDERS` ("openai" or "azure")
    provider: ClassVar[str]
    #: a first poll interval (seconds) that suits this backend, when the run sets none;
    #: a local emulator answers in milliseconds where a real provider takes minutes
    poll_interval_hint: ClassVar[float | None] = None

    @abc.abstractmethod
    async def upload_file(self, path: Path, *, expires_after_s: int | None = None) -> FileRef:
        """Upload a JSONL batch input file (streamed from disk, purpose ``batch``)."""

    @abc.abstractmethod
    async def retrieve_file(self, file_id: str) -> FileRef:
        """Return a stored file's metadata."""

    @abc.abstractmethod
    async def create_batch(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        metadata: Mapping[str, str] | None = None,
        completion_window: str = "24h",
        output_expires_after_s: int | None = None,
    ) -> BatchJob:
        """Create a batch over an uploaded file; it starts in ``validating``."""

    @abc.abstractmethod
    async def retrieve_batch(self, batch_id: str) -> BatchJob:
        """Return the batch's current state."""

    @abc.abstractmethod
    async def cancel_batch(self, batch_id: str) -> BatchJob:
        """Ask the provider to cancel; returns the batch (usually ``cancelling``)."""

    @abc.abstractmethod
    def list_batches(
        self, *, metadata: Mapping[str, str] | None = None, page_size: int = 100
    ) -> AsyncIterator[BatchJob]:
        """Iterate batches, newest first; only those whose metadata contains ``metadata``."""

    @abc.abstractmethod
    def list_files(self, *, purpose: str | None = "batch") -> AsyncIterator[FileRef]:
        """Iterate stored files, newest first (the runner finds orphaned uploads so)."""

    @abc.abstractmethod
    def stream_file(self, file_id: str) -> AsyncIterator[bytes]:
        """Yield a file's content in chunks, never holding it whole in memory."""

    @abc.abstractmethod
    async def delete_file(self, file_id: str) -> None:
        """Delete a stored file."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release clients and credentials. Safe to call twice."""

    # -- optional hooks with neutral defaults -------------------------------------------
    def prepare_request(self, request: Request) -> Request:
        """Translate one request line for this provider before it is written to a
        shard (Azure: model name -> deployment, url form). ``custom_id`` never changes."""
        return request

    def quota_limits(self) -> Mapping[str, QuotaLimit]:
        """Enqueued-token limits the runner must respect, by (translated) model name."""
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
