"""Run options: every knob of a run, stored with it so a resume behaves the same."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from batchport.errors import InputError
from batchport.runner.deadline import DeadlinePolicy, parse_deadline
from batchport.runner.policy import PollPolicy, QuotaLimit

__all__ = ["RunOptions"]


def _finite(value: object) -> bool:
    """A real number (not a bool), neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run behaves.

    Attributes:
        max_attempts: submissions per row before a retryable failure becomes final.
        max_concurrent_shards: shards in flight at once.
        poll: poll interval/backoff and stall timeout (seconds).
        on_stall: ``"wait"`` reports a stalled shard and keeps waiting; ``"cancel"``
            also cancels it and resubmits its unfinished rows.
        api_retries: retries of one API call on transient errors (429, 5xx, dropped
            connections) before the run stops (it can be resumed).
        adopt_window_s: after a submit failed without an answer, how long (seconds)
            to keep looking for the job it may have created before submitting again
            (a provider's listing can lag behind a create).
        requeue_base_s / requeue_cap_s / max_requeues: backoff when the enqueued-token
            quota is full (``token_limit_exceeded``), in seconds.
        quota: enqueued-token limits per model or deployment name (``{"gpt-4o":
            {"tokens": 2_000_000, "dynamic": False}}``).
        max_rows_per_shard / max_tokens_per_shard: caps below the provider's limits.
        max_cost: refuse to start when the estimated batch cost (USD) exceeds it.
        metadata: extra metadata tags put on every batch (the run adds its own).
        cleanup: delete input and result files at the provider once downloaded.
        deadline: when the run must be done (a :class:`DeadlinePolicy`, or what
            :func:`~batchport.runner.deadline.parse_deadline` reads: ``"2h"``, seconds,
            a timedelta or a datetime). A shard whose batch cannot make it is cancelled
            and its unfinished rows are served realtime.
        fallback: the deadline's route: ``"realtime"`` (standard tier) or ``"flex"``
            (OpenAI's ``service_tier="flex"`` where the model has it).
        realtime_rpm / realtime_tpm / realtime_concurrency: the fallback's client-side
            limits (requests and tokens per minute, requests in flight). The per-minute
            limits are the run's: drivers serving its fallback at once split them.
            ``realtime_concurrency`` is each driver's.
        reconnect_s: how long (seconds) :func:`~batchport.run` and
            :func:`~batchport.resume` go on trying to open a PostgreSQL store again after
            its connection dropped (a failover, a server restart) before they stop with
            an error; the run can be resumed then. 0: stop at once.
    """

    max_attempts: int = 3
    max_concurrent_shards: int = 4
    poll: PollPolicy = field(default_factory=PollPolicy)
    on_stall: Literal["wait", "cancel"] = "wait"
    api_retries: int = 8
    adopt_window_s: float = 30.0
    requeue_base_s: float = 30.0
    requeue_cap_s: float = 1800.0
    max_requeues: int = 100
    quota: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    max_rows_per_shard: int | None = None
    max_tokens_per_shard: int | None = None
    max_cost: float | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    completion_window: str = "24h"
    file_expires_after_s: int | None = None
    cleanup: bool = False
    deadline: DeadlinePolicy | None = None
    fallback: Literal["realtime", "flex"] = "realtime"
    realtime_rpm: int | None = None
    realtime_tpm: int | None = None
    realtime_concurrency: int = 16
    reconnect_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InputError("max_attempts must be at least 1", rule="max_attempts")
        if self.max_concurrent_shards < 1:
            raise InputError(
                "max_concurrent_shards must be at least 1", rule="max_concurrent_shards"
            )
        if self.on_stall not in ("wait", "cancel"):
            raise InputError("on_stall must be 'wait' or 'cancel'", rule="on_stall")
        given: object = self.deadline  # a caller may give "2h", seconds, a datetime...
        if given is not None and not isinstance(given, DeadlinePolicy):
            object.__setattr__(self, "deadline", parse_deadline(given))
        if self.fallback not in ("realtime", "flex"):
            raise InputError("fallback must be 'realtime' or 'flex'", rule="fallback")
        if self.realtime_concurrency < 1:
            raise InputError("realtime_concurrency must be at least 1", rule="fallback")
        seconds: object = self.reconnect_s
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            raise InputError("reconnect_s must be a number of seconds, 0 or more",
                             rule="reconnect_s")  # fmt: skip
        poll = self.poll
        if not (_finite(poll.interval) and poll.interval > 0):
            raise InputError("poll.interval must be a number of seconds above 0", rule="poll")
        if not (_finite(poll.max_interval) and poll.max_interval >= poll.interval):
            raise InputError("poll.max_interval must be at least poll.interval", rule="poll")
        if not (_finite(poll.factor) and poll.factor >= 1):
            raise InputError("poll.factor must be 1 or more", rule="poll")
        for name in ("max_rows_per_shard", "max_tokens_per_shard", "realtime_rpm",
                     "realtime_tpm"):  # fmt: skip
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):  # fmt: skip
                raise InputError(f"{name} must be a whole number, 1 or more", rule=name)
        if self.max_cost is not None and not (_finite(self.max_cost) and self.max_cost >= 0):
            raise InputError("max_cost must be an amount in USD, 0 or more", rule="max_cost")
        if len(self.metadata) > 12:
            raise InputError(
                "at most 12 metadata tags (providers allow 16; batchport uses 4)",
                rule="metadata",
            )

    def quota_limits(self) -> dict[str, QuotaLimit]:
        return {
            k: QuotaLimit(
                int(v["tokens"]), bool(v.get("dynamic", False)), str(v.get("unit", "tokens"))
            )
            for k, v in self.quota.items()
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunOptions:
        data = json.loads(text)
        data["poll"] = PollPolicy(**data.get("poll", {}))
        if data.get("deadline") is not None:
            data["deadline"] = DeadlinePolicy(**data["deadline"])
        return cls(**data)
