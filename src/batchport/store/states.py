"""Run and shard lifecycles as data: states and the moves allowed between them.

The store applies every state change as a compare-and-set (``... WHERE state = ?``)
checked against these tables, so an illegal move, or one raced by another process,
fails loudly with :class:`IllegalTransition` instead of silently overwriting.

A shard::

    planned ──> submitting ──> submitted ──> finished ──> reconciled
       │  ^          │  │           │
       │  └──────────┘  │           └──> planned      (quota refusal found when polling)
       │  (quota refusal)└──> reconciled              (refused for good at submit)
       └──> abandoned <── submitting                   (run cancelled before a job exists)

``submitting`` is the intent written before anything is sent; ``finished`` holds the
terminal job; ``reconciled`` means every row of the shard is settled or moved on.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from batchport.errors import BatchportError

__all__ = [
    "RUN_EDGES",
    "SHARD_EDGES",
    "CancelReason",
    "IllegalTransition",
    "RunState",
    "ShardState",
    "check_move",
]


class RunState(StrEnum):
    PLANNING = "planning"
    """Shard files and ledger rows are being written; nothing has been sent."""
    RUNNING = "running"
    CANCELLING = "cancelling"
    DONE = "done"
    CANCELLED = "cancelled"
    INVALID = "invalid"
    """The input broke a rule; nothing was sent."""
    REFUSED = "refused"
    """The estimate exceeded ``max_cost``; nothing was sent."""
    FAILED = "failed"
    """An error stopped it (``error`` says which); resuming goes on from where it was."""

    @property
    def is_final(self) -> bool:
        return not RUN_EDGES[self]


class ShardState(StrEnum):
    PLANNED = "planned"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    FINISHED = "finished"
    RECONCILED = "reconciled"
    ABANDONED = "abandoned"

    @property
    def is_final(self) -> bool:
        return not SHARD_EDGES[self]


class CancelReason(StrEnum):
    """Why a shard's job was cancelled. The runner's own cancels move the unfinished
    rows on: a stall's to a new batch, a deadline's to the realtime fallback."""

    USER = "user"
    STALLED = "stalled"
    DEADLINE = "deadline"


RUN_EDGES: Mapping[RunState, frozenset[RunState]] = {
    RunState.PLANNING: frozenset(
        {RunState.RUNNING, RunState.INVALID, RunState.REFUSED, RunState.CANCELLED}
    ),
    RunState.RUNNING: frozenset({RunState.CANCELLING, RunState.DONE, RunState.FAILED}),
    RunState.FAILED: frozenset({RunState.RUNNING, RunState.CANCELLING}),
    RunState.CANCELLING: frozenset({RunState.CANCELLED}),
    RunState.DONE: frozenset(),
    RunState.CANCELLED: frozenset(),
    RunState.INVALID: frozenset(),
    RunState.REFUSED: frozenset(),
}

SHARD_EDGES: Mapping[ShardState, frozenset[ShardState]] = {
    ShardState.PLANNED: frozenset({ShardState.SUBMITTING, ShardState.ABANDONED}),
    ShardState.SUBMITTING: frozenset(
        {
            ShardState.SUBMITTED,
            ShardState.PLANNED,
            ShardState.RECONCILED,
            ShardState.ABANDONED,
        }
    ),
    ShardState.SUBMITTED: frozenset({ShardState.FINISHED, ShardState.PLANNED}),
    ShardState.FINISHED: frozenset({ShardState.RECONCILED}),
    ShardState.RECONCILED: frozenset(),
    ShardState.ABANDONED: frozenset(),
}


class IllegalTransition(BatchportError):
    """A state change the lifecycle does not allow, or one another writer got to first."""


def check_move(kind: str, edges: Mapping[str, frozenset[str]], old: str, new: str) -> None:
    """Raise :class:`IllegalTransition` unless ``old -> new`` is an edge."""
    if new not in edges.get(old, frozenset()):
        raise IllegalTransition(f"{kind} cannot move from {old!r} to {new!r}")
