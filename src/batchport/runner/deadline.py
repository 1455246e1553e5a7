"""Deadlines: when a shard's batch cannot finish in time, hand its rest to realtime.

A run with a deadline (:class:`DeadlinePolicy`, ``bp.run(..., deadline="2h")``) is
watched shard by shard while it is polled. :class:`DeadlineWatch` keeps each shard's
request counts over time and, at every poll, decides whether this is the latest safe
moment to cancel the batch. The rule, with ``R`` the rows the batch has not answered
yet (``total - completed - failed``, or all rows before the provider reports counts)::

    rate_rt   = safety * min(rpm / 60, tpm / (60 * tokens_per_row), concurrency / latency_s)
    t_rt      = (R + B) / rate_rt + latency_s            # realtime time for R rows
    t_latest  = deadline - margin_s - cancel_s - t_rt    # start realtime by then
    batch_eta = now + R / rate_batch                     # rate measured from the counts
              | first_seen + batch_estimate_s            # no count has moved yet

    cancel when  now + lookahead >= t_latest  and  batch_eta > deadline - margin_s

``B`` is the backlog: rows other shards have already sent to the realtime route, which
share its limits (one rate limiter for all fallbacks of a run) and go first. When a
fallback has run, its measured rows/s caps ``rate_rt`` for the next decisions.
``lookahead`` is the longest wait until the next poll (the poll policy's
``max_interval``), so the next look is never already too late. A batch whose counts
have not moved is judged by elapsed time against ``batch_estimate_s`` (default 24 h,
the only time providers promise): that covers a batch still queued and a provider
whose counts say nothing while it runs (Anthropic's ``succeeded``/``errored`` stay 0
until the whole batch ends; a Gemini job may report no stats). Until that moment the
shard stays in batch (half the price); a batch on track never falls back.
``rate_batch`` is measured over the samples since the batch started moving (at most
the last ``window_s`` seconds). Limits left unset (None) drop out of ``min``.

Before cancelling, the projected cost (the run's batch estimate, plus what realtime
adds over batch for every fallback so far and for this one) is checked against
``max_cost``; over it, the runner says so once and keeps waiting in batch.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from batchport.backends.models import Job
from batchport.errors import InputError
from batchport.runner.clock import Clock
from batchport.store.base import ShardRecord

__all__ = [
    "ROUTE_KEY",
    "DeadlinePolicy",
    "DeadlineWatch",
    "Decision",
    "is_realtime",
    "parse_deadline",
    "realtime_rate",
    "route_checkpoint",
    "wall_now",
]

log = logging.getLogger("batchport.runner")

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*"
                       r"(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")  # fmt: skip


#: the shard checkpoint key that marks a deadline's fallback shard, with its route
#: (``realtime`` or ``flex``); no backend sees such a shard, so its checkpoint is free
ROUTE_KEY = "batchport_route"


def is_realtime(shard: ShardRecord) -> bool:
    """Whether ``shard`` is a deadline fallback (served realtime, never submitted)."""
    return ROUTE_KEY in shard.staged()


def route_checkpoint(fallback: str) -> str:
    """The checkpoint of a fallback shard served by ``fallback``."""
    return orjson.dumps({ROUTE_KEY: fallback}).decode()


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """When a run must be done, and how the runner plans the fallback.

    Attributes:
        at: the deadline, unix seconds (UTC).
        margin_s: finish this long before ``at`` (seconds).
        cancel_s: allowance for a batch's cancel to take effect and its results to be
            read before realtime starts (seconds).
        latency_s: a realtime request's latency, for the concurrency bound and the tail.
        batch_estimate_s: how long a batch is expected to take while none of its
            request counts has moved (the ETA is then its first poll plus this).
        safety: the share of the configured realtime throughput counted on (0-1].
        window_s: batch throughput is measured over at most this many last seconds.
    """

    at: float
    margin_s: float = 120.0
    cancel_s: float = 120.0
    latency_s: float = 5.0
    batch_estimate_s: float = 86_400.0
    safety: float = 0.8
    window_s: float = 1800.0

    def __post_init__(self) -> None:
        if not 0 < self.safety <= 1:
            raise InputError("deadline safety must be in (0, 1]", rule="deadline")
        if min(self.margin_s, self.cancel_s, self.latency_s) < 0 or self.window_s <= 0:
            raise InputError("deadline margins and latency must not be negative", rule="deadline")


def parse_deadline(value: Any, *, now: float | None = None) -> DeadlinePolicy:
    """A :class:`DeadlinePolicy` from what a caller gives: a policy, a timezone-aware
    :class:`~datetime.datetime` (a naive one is taken as UTC), a
    :class:`~datetime.timedelta`, seconds from now (int/float), a duration string
    (``"2h"``, ``"1h30m"``, ``"45m"``, ``"90s"``, ``"1d"``) or an ISO 8601 time.
    ``now`` is unix seconds (default: the system's).

    Raises:
        InputError: the value is none of these, or is already past.
    """
    if isinstance(value, DeadlinePolicy):
        return value
    now = time.time() if now is None else now
    if isinstance(value, dict):
        return DeadlinePolicy(**value)
    at: float | None = None
    if isinstance(value, datetime):
        at = (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    elif isinstance(value, timedelta):
        at = now + value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        at = now + float(value)
    elif isinstance(value, str):
        at = _from_text(value, now)
    if at is None or not math.isfinite(at):
        raise InputError(
            f"{value!r} is not a time: give a duration like '2h' or '90m', "
            "seconds, a timedelta, a datetime or an ISO 8601 time",
            rule="deadline",
        )
    if at <= now:
        raise InputError(f"{value!r} has already passed", rule="deadline")
    return DeadlinePolicy(at=at)


def _from_text(text: str, now: float) -> float | None:
    match = _DURATION.match(text.lower())
    if match and any(match.groups()):
        d, h, m, s = (float(g) if g else 0.0 for g in match.groups())
        return now + d * 86_400 + h * 3600 + m * 60 + s
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def wall_now(clock: Clock) -> float:
    """Unix seconds as ``clock`` sees them: a clock with a ``wall()`` method (a virtual
    clock in tests) answers itself; any other uses the system's time."""
    wall = getattr(clock, "wall", None)
    return float(wall()) if callable(wall) else time.time()


def realtime_rate(
    *,
    rpm: int | None,
    tpm: int | None,
    concurrency: int,
    latency_s: float,
    tokens_per_row: float,
    safety: float = 1.0,
) -> float:
    """Rows per second the realtime route is counted on for (see the module rule)."""
    bounds = [concurrency / max(latency_s, 1e-3)]
    if rpm:
        bounds.append(rpm / 60)
    if tpm and tokens_per_row > 0:
        bounds.append(tpm / 60 / tokens_per_row)
    return safety * min(bounds)


@dataclass(frozen=True, slots=True)
class Decision:
    """A shard to cancel now: ``remaining`` rows go to realtime; times are clock seconds."""

    remaining: int
    latest_s: float
    batch_eta_s: float
    realtime_s: float


@dataclass(slots=True)
class _Track:
    first_seen: float
    samples: list[tuple[float, int]] = field(default_factory=list)
    moved: bool = False


class DeadlineWatch:
    """Decides, poll by poll, whether a shard must leave batch for realtime.

    ``deadline_s`` is the deadline on ``clock``'s scale (mapped once from unix time);
    ``rate_of(shard_id)`` gives the realtime rows/s for a shard (its tokens per row);
    ``lookahead_s`` the longest wait until the next poll.
    """

    def __init__(
        self,
        policy: DeadlinePolicy,
        clock: Clock,
        rate_of: Callable[[str], float],
        lookahead_s: float,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.deadline_s = clock.now() + (policy.at - wall_now(clock))
        self.rate_of = rate_of
        self.lookahead_s = lookahead_s
        self._tracks: dict[str, _Track] = {}

    def left_s(self) -> float:
        """Seconds until the deadline (negative once past)."""
        return self.deadline_s - self.clock.now()

    def observe(self, shard_id: str, rows: int, job: Job, backlog: int = 0) -> Decision | None:
        """Record the job's counts; a :class:`Decision` when the shard must be cancelled
        now (see the module rule), else None. ``backlog`` is the rows other shards have
        queued on the realtime route already: they share its limits, so go first."""
        now = self.clock.now()
        track = self._tracks.setdefault(shard_id, _Track(first_seen=now))
        counts = job.counts
        total = counts.total or rows
        done = counts.completed + counts.failed
        track.moved = track.moved or done > 0
        track.samples.append((now, done))
        remaining = max(0, total - done)
        if remaining == 0:
            return None
        p = self.policy
        rate_rt = self.rate_of(shard_id)
        queued = remaining + backlog
        realtime_s = queued / rate_rt + p.latency_s if rate_rt > 0 else math.inf
        latest = self.deadline_s - p.margin_s - p.cancel_s - realtime_s
        if now + self.lookahead_s < latest:
            return None
        eta = self._batch_eta(track, now, remaining)
        if eta <= self.deadline_s - p.margin_s:
            return None
        return Decision(remaining, latest, eta, realtime_s)

    def _batch_eta(self, track: _Track, now: float, remaining: int) -> float:
        if not track.moved:
            return track.first_seen + self.policy.batch_estimate_s
        samples = track.samples
        # from the last sample before the rows started moving, within the window
        start = max((i for i, (_, d) in enumerate(samples) if d == 0), default=0)
        while start < len(samples) - 2 and samples[start + 1][0] <= now - self.policy.window_s:
            start += 1
        del samples[:start]  # older samples are never looked at again
        t0, d0 = samples[0]
        moved, spent = samples[-1][1] - d0, now - t0
        if moved <= 0 or spent <= 0:
            return math.inf
        return now + remaining / (moved / spent)

    def forget(self, shard_id: str) -> None:
        self._tracks.pop(shard_id, None)
