"""The neutral objects that cross the backend seam, in the runner's vocabulary.

A backend turns its provider's answers into these frozen objects and keeps the raw
payload beside them; the runner reads only these fields, never a provider's shape.

- :class:`ShardSpec` — what the runner hands a backend to submit: one prepared shard.
- :class:`Job` — a submitted shard as the provider sees it, with a neutral
  :class:`JobStatus`, progress counts, batch-level errors and, when the provider
  refused it for quota, a :attr:`Job.requeue` reason.
- :class:`ResultRow` — one request's result, already judged: an :class:`Outcome`,
  whether it is worth resubmitting and why, status code, body, text and usage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, BinaryIO

__all__ = [
    "ALL_MODELS",
    "BatchError",
    "Job",
    "JobStatus",
    "Outcome",
    "QuotaLimit",
    "RequestCounts",
    "ResultRow",
    "RowError",
    "ShardSpec",
    "Usage",
]


class JobStatus(StrEnum):
    """Where a submitted shard stands. Each backend maps its own vocabulary onto these
    (a status map per backend); anything it does not know is ``UNKNOWN``."""

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True for states a job never leaves: completed, failed, expired, cancelled."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.CANCELLED}
)


class Outcome(StrEnum):
    """How one request ended. Every input row ends in exactly one."""

    SUCCEEDED = "succeeded"
    """2xx with a usable body (for ``parse`` requests: it parsed)."""
    REFUSED = "refused"
    """2xx, but the model refused (structured-output refusal)."""
    TRUNCATED = "truncated"
    """2xx, but output stopped at the token limit."""
    CONTENT_FILTERED = "content_filtered"
    """2xx, but the provider's content filter stopped the output."""
    FAILED = "failed"
    """Permanent failure: a 4xx such as a bad request, or retries exhausted."""
    EXPIRED = "expired"
    """The completion window passed before the row ran, and no retry was left."""
    CANCELLED = "cancelled"
    """The run (or its batch) was cancelled before the row ran."""
    MISSING = "missing"
    """The provider returned no result for the row, and no retry was left."""
    PENDING = "pending"
    """Not settled yet: the run is still in flight (never a final outcome)."""

    @property
    def ok(self) -> bool:
        return self is Outcome.SUCCEEDED


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """Rows in a job: ``total`` once known; ``completed`` ran and answered 2xx;
    ``failed`` ran and did not. Rows that never ran count in neither."""

    total: int = 0
    completed: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one row, or summed over many.

    ``input_tokens`` counts every prompt token, whatever its price. ``cached_tokens``
    (read from a prompt cache) and ``cache_write_tokens`` (written to one, Anthropic's
    ``cache_creation_input_tokens``) are the parts of it priced differently; a backend
    whose provider counts them apart from its input adds them in.
    ``reasoning_tokens`` are part of ``output_tokens``.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True, slots=True)
class BatchError:
    """A job-level error (e.g. one entry of a failed batch's validation errors).
    ``line`` is the 1-based position of the request in the shard, when it names one."""

    code: str
    message: str
    param: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row did not succeed. ``code`` may be None when the provider sent none."""

    code: str | None
    message: str
    type: str | None = None
    param: str | None = None


@dataclass(frozen=True, slots=True)
class QuotaLimit:
    """An enqueued-token limit for one model (provider model name, e.g. a deployment),
    or for every model at once under the key :data:`ALL_MODELS`.

    With ``dynamic`` on, the service may accept work above ``tokens`` (Azure's dynamic
    quota); the runner then lets everything through and backs off when refused. With
    ``unit="requests"`` the limit counts requests, not tokens (Anthropic's processing
    queue): ``tokens`` is then a number of requests.
    """

    tokens: int
    dynamic: bool = False
    unit: str = "tokens"


#: the quota key of a limit shared by every model (a provider-wide queue)
ALL_MODELS = "*"


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """One prepared shard, ready to submit.

    ``open`` opens the shard's request lines (JSONL, already translated for the
    provider, one request per line in ``pos`` order) for streaming reads; it is called
    as often as needed and each file object is closed by the caller. ``filename`` is a
    stable name for anything stored at the provider (``<run id>.<shard id>.jsonl``).
    ``tags`` identify the submission (run, shard, content hash, submit count) and are
    what :meth:`Backend.find` looks for after a crash. ``model`` is the provider's model
    (an Azure deployment, say); ``caller_model`` the caller's.
    """

    run_id: str
    shard_id: str
    endpoint: str
    model: str | None
    rows: int
    bytes: int
    content_hash: str
    open: Callable[[], BinaryIO] = field(repr=False, compare=False)
    tags: Mapping[str, str] = field(default_factory=dict)
    submit: int = 0
    caller_model: str | None = None
    completion_window: str = "24h"
    file_expires_after_s: int | None = None
    #: jobs recorded for the run's other shards, set when a job is looked for: never
    #: this shard's (a backend that tells its job by shape alone skips them)
    other_jobs: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def filename(self) -> str:
        return f"{self.run_id}.{self.shard_id}.jsonl"


@dataclass(frozen=True, slots=True)
class Job:
    """A submitted shard, normalized.

    ``refs`` are the backend's own locators for the job's results (file ids, a results
    URL...): opaque to the runner, which stores them and hands the job back to
    :meth:`Backend.results`. ``requeue`` is set when the provider refused the job for
    quota (enqueued tokens): the runner then submits the shard again later, and the
    job's rows have not run. ``restage`` adds that what was staged (an upload) is gone:
    the runner clears the shard's checkpoint and stages it again. ``retry_after`` is how
    long the provider asked to wait before polling again, in seconds. ``raw`` is the
    provider's payload as received.
    """

    id: str
    status: JobStatus
    counts: RequestCounts = field(default_factory=RequestCounts)
    refs: Mapping[str, str] = field(default_factory=dict)
    errors: tuple[BatchError, ...] = ()
    requeue: str | None = None
    restage: bool = False
    created_at: float | None = None
    expires_at: float | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    usage: Usage | None = None
    retry_after: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def summary(self) -> dict[str, Any]:
        """What the runner keeps of a terminal job (JSON-ready, without ``raw``)."""
        return {
            "id": self.id,
            "status": self.status.value,
            "counts": [self.counts.total, self.counts.completed, self.counts.failed],
            "refs": dict(self.refs),
            "errors": [[e.code, e.message, e.param, e.line] for e in self.errors],
            "requeue": self.requeue,
        }

    @classmethod
    def from_summary(cls, data: Mapping[str, Any]) -> Job:
        """Rebuild a job kept with :meth:`summary`."""
        return cls(
            id=str(data["id"]),
            status=JobStatus(data["status"]),
            counts=RequestCounts(*data.get("counts", (0, 0, 0))),
            refs=dict(data.get("refs", {})),
            errors=tuple(BatchError(*e) for e in data.get("errors", ())),
            requeue=data.get("requeue"),
        )


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One request's result, judged by its backend.

    ``outcome`` and ``retryable`` are the backend's verdict (``retryable``: the same
    request may succeed if submitted again, e.g. a 5xx, a 429 or an expired row);
    ``error`` says why a row did not succeed. ``status_code`` is the row's HTTP status,
    or None when it never ran. ``body`` is the provider's response body, ``text`` the
    model's output text. ``raw`` is the line as received; ``body_path`` the keys that
    lead from the parsed ``raw`` line to ``body``. ``source`` and ``line`` say where
    the row came from (a file id and 1-based line, say) for error messages.
    """

    custom_id: str
    outcome: Outcome
    retryable: bool = False
    error: RowError | None = None
    status_code: int | None = None
    body: Mapping[str, Any] | None = None
    text: str | None = None
    usage: Usage | None = None
    raw: bytes = field(default=b"", repr=False, compare=False)
    body_path: tuple[str, ...] = ()
    source: str = ""
    line: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED
