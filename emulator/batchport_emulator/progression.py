"""Progression policies: when a batch may leave a stage and how many rows may have run.

Pure functions of the batch, the configured policy and the virtual time ``now``:

- ``immediate``: every stage ends as soon as its work is done.
- ``after_polls``: a stage ends after ``polls`` status reads made while the batch
  was in it; during ``in_progress`` rows are released in proportion to the reads,
  so ``request_counts`` grow poll by poll.
- ``throughput``: validation waits ``queue_delay_s + validating_s``; rows then run at
  ``requests_per_s``; finalizing and cancelling take their own virtual seconds. With
  ``scope="account"`` that rate is shared: running batches are served one after another
  in the order they started (:class:`AccountQueue`), the way one account's jobs share a
  provider's batch capacity.

Fault plans layer on top: a stuck batch never leaves ``validating``, a stalling
batch stops after a fraction of its rows (and waits for expiry), and slow
finalizing adds virtual seconds to ``finalizing``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from batchport_emulator.batches import Batch
from batchport_emulator.config import (
    AfterPollsProgression,
    FaultConfig,
    Progression,
    ThroughputProgression,
)
from batchport_emulator.lifecycle import Status


@dataclass(slots=True)
class _Slot:
    """A batch's turn on the shared capacity: ``rows`` more rows (after ``base`` already
    run) from virtual time ``start``, ready to start no earlier than ``ready``."""

    ready: float
    start: float
    base: int
    rows: int

    def end(self, rate: float) -> float:
        return self.start + self.rows / rate


class AccountQueue:
    """One account's batch capacity of ``rate`` rows a second, served first come, first
    served: a batch's rows start when it is running and every earlier batch's are done.

    A batch takes its turn the first time it is asked about while running; a batch that
    stops early (cancelled, expired) hands its unused time to the batches behind it.
    Pure bookkeeping on virtual time; the processor asks, nothing here runs rows.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._slots: dict[str, _Slot] = {}

    def slot(self, batch: Batch, cap: int, now: float) -> _Slot:
        found = self._slots.get(batch.id)
        if found is None:
            busy = max((s.end(self.rate) for s in self._slots.values()), default=-math.inf)
            # a batch taken up again after a restart continues from now, not from its start
            ready = batch.stage_since if batch.executed == 0 else now
            rows = max(0, cap - batch.executed)
            found = _Slot(ready, max(ready, busy), batch.executed, rows)
            self._slots[batch.id] = found
        return found

    def allowed(self, batch: Batch, cap: int, now: float) -> int:
        s = self.slot(batch, cap, now)
        return s.base + max(0, min(s.rows, int((now - s.start) * self.rate + 1e-9)))

    def next_row_at(self, batch: Batch, cap: int, now: float) -> float:
        s = self.slot(batch, cap, now)
        return s.start + (batch.executed - s.base + 1) / self.rate

    def release(self, batch_id: str, now: float) -> None:
        """``batch_id`` runs no more rows: later turns move up into its unused time."""
        if self._slots.pop(batch_id, None) is None:
            return
        end = -math.inf
        for s in sorted(self._slots.values(), key=lambda s: s.start):
            if s.start > now:
                s.start = max(s.ready, end, now)
            end = max(end, s.end(self.rate))


class ProgressionModel:
    def __init__(self, policy: Progression, faults: FaultConfig) -> None:
        self.policy = policy
        self.faults = faults
        self.account: AccountQueue | None = None
        if isinstance(policy, ThroughputProgression) and policy.scope == "account":
            self.account = AccountQueue(policy.requests_per_s)

    def release(self, batch: Batch, now: float) -> None:
        """``batch`` left ``in_progress``: free its share of the account's capacity."""
        if self.account is not None:
            self.account.release(batch.id, now)

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
        elif self.account is not None:
            allowed = self.account.allowed(batch, self.rows_allowed_cap(batch), now)
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
            if self.account is not None:
                cap = self.rows_allowed_cap(batch)
                candidates.append(self.account.next_row_at(batch, cap, now))
            else:
                candidates.append(batch.stage_since + (batch.executed + 1) / policy.requests_per_s)
        future = [c for c in candidates if c > now]
        return min(future) if future else None

    def rows_allowed_cap(self, batch: Batch) -> int:
        """Rows that may ever run (the total, or fewer for a stalling batch)."""
        total = batch.counts.total
        if batch.faults.stall_fraction is not None:
            return int(total * batch.faults.stall_fraction)
        return total
