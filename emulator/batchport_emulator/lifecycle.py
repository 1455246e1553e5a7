"""The batch lifecycle as data: statuses, allowed edges, timestamp fields.

::

    validating -> in_progress -> finalizing -> completed
    validating -> failed                  (input file failed validation)
    in_progress -> failed                 (input file gone when a restart resumes it)
    validating | in_progress -> expired   (the 24 h window passed)
    validating | in_progress | finalizing -> cancelling -> cancelled

Any other move is a bug in the emulator and raises :class:`IllegalTransition`.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    VALIDATING = "validating"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


TERMINAL: frozenset[Status] = frozenset(
    {Status.COMPLETED, Status.FAILED, Status.EXPIRED, Status.CANCELLED}
)

EDGES: frozenset[tuple[Status, Status]] = frozenset(
    {
        (Status.VALIDATING, Status.IN_PROGRESS),
        (Status.VALIDATING, Status.FAILED),
        (Status.VALIDATING, Status.EXPIRED),
        (Status.VALIDATING, Status.CANCELLING),
        (Status.IN_PROGRESS, Status.FINALIZING),
        (Status.IN_PROGRESS, Status.FAILED),
        (Status.IN_PROGRESS, Status.EXPIRED),
        (Status.IN_PROGRESS, Status.CANCELLING),
        (Status.FINALIZING, Status.COMPLETED),
        (Status.FINALIZING, Status.CANCELLING),
        (Status.CANCELLING, Status.CANCELLED),
    }
)

# The wire field stamped when a batch enters each status.
TIMESTAMP_FIELD: dict[Status, str] = {
    Status.IN_PROGRESS: "in_progress_at",
    Status.FINALIZING: "finalizing_at",
    Status.COMPLETED: "completed_at",
    Status.FAILED: "failed_at",
    Status.EXPIRED: "expired_at",
    Status.CANCELLING: "cancelling_at",
    Status.CANCELLED: "cancelled_at",
}

TIMESTAMP_FIELDS: tuple[str, ...] = tuple(TIMESTAMP_FIELD.values())


class IllegalTransition(RuntimeError):
    """A move outside :data:`EDGES`; always an emulator bug, never user input."""


def check_transition(current: Status, target: Status) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is an edge."""
    if (current, target) not in EDGES:
        raise IllegalTransition(f"{current} -> {target} is not an allowed transition")


def can_cancel(status: Status) -> bool:
    return (status, Status.CANCELLING) in EDGES
