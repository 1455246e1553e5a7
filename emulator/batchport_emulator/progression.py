"""Progression policies: when a batch may leave a stage and how many rows may have run.

Pure functions of the batch, the configured policy and the virtual time ``now``:

- ``immediate``: every stage ends as soon as its work is done.
- ``after_polls``: a stage ends after ``polls`` status reads made while the batch
  was in it; during ``in_progress`` rows are released in proportion to the reads,
  so ``request_counts`` grow poll by poll.
- ``throughput``: validation waits ``queue_delay_s + validating_s``; rows then run at
  ``requests_per_s``; finalizing and cancelling take their own virtual seconds.

Fault plans layer on top: a stuck batch never leaves ``validating``, a stalling
batch stops after a fraction of its rows (and waits for expiry), and slow
finalizing adds virtual seconds to ``finalizing``.
"""

from __future__ import annotations

import math

from batchport_emulator.batches import Batch
from batchport_emulator.config import (
    AfterPollsProgression,
    FaultConfig,
    Progression,
    ThroughputProgression,
)
from batchport_emulator.lifecycle import Status


class ProgressionModel:
    def __init__(self, policy: Progression, faults: FaultConfig) -> None:
        self.policy = policy
        self.faults = faults

    def _stage_seconds(self, status: Status) -> float:
        p = self.policy
        extra = self.faults.slow_finalizing_s if status is Status.FINALIZING else 0.0
        if isinstance(p, ThroughputProgression):
            base = {
                Status.VALIDATING: p.queue_delay_s + p.validating_s,
                Status.FINALIZING: p.finalizing_s,
                Status.CANCELLING: p.cancelling_s,
            }.get(status, 0.0)
            return base + extra
        return extra

    def stage_ready(self, batch: Batch, now: float) -> bool:
        """May ``batch`` leave its current (validating, finalizing or cancelling) stage?"""
        if batch.status is Status.VALIDATING and batch.faults.stuck_validating:
            return False
        if (
            isinstance(self.policy, AfterPollsProgression)
            and batch.polls_in_stage < self.policy.polls
        ):
            return False
        return now >= batch.stage_since + self._stage_seconds(batch.status)

    def rows_allowed(self, batch: Batch, now: float) -> int:
        """How many rows (cumulative) may have run by ``now`` while ``in_progress``."""
        total = batch.counts.total
        p = self.policy
        if isinstance(p, AfterPollsProgression):
            allowed = math.ceil(total * min(batch.polls_in_stage, p.polls) / p.polls)
        elif isinstance(p, ThroughputProgression):
            allowed = int((now - batch.stage_since) * p.requests_per_s + 1e-9)
        else:
            allowed = total
        if batch.faults.stall_fraction is not None:
            allowed = min(allowed, int(total * batch.faults.stall_fraction))
        return max(0, min(allowed, total))

    def next_deadline(self, batch: Batch, now: float) -> float | None:
        """The next virtual time at which this batch could change without a poll."""
        candidates: list[float] = []
        if batch.status in (Status.VALIDATING, Status.IN_PROGRESS):
            candidates.append(float(batch.expires_at))
        if batch.status in (Status.VALIDATING, Status.FINALIZING, Status.CANCELLING):
            candidates.append(batch.stage_since + self._stage_seconds(batch.status))
        policy = self.policy
        if (
            batch.status is Status.IN_PROGRESS
            and isinstance(policy, ThroughputProgression)
            and batch.executed < self.rows_allowed_cap(batch)
        ):
            candidates.append(batch.stage_since + (batch.executed + 1) / policy.requests_per_s)
        future = [c for c in candidates if c > now]
        return min(future) if future else None

    def rows_allowed_cap(self, batch: Batch) -> int:
        """Rows that may ever run (the total, or fewer for a stalling batch)."""
        total = batch.counts.total
        if batch.faults.stall_fraction is not None:
            return int(total * batch.faults.stall_fraction)
        return total
