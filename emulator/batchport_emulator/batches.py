"""Batches: the record, the store, transitions and poll observations.

A :class:`Batch` is dialect-neutral; dialects turn it into wire objects. The
store applies lifecycle moves (checked against :mod:`lifecycle`), stamps the
matching timestamp, and, with a data directory, saves the record on each change.
Work in progress (row order, open output files) lives in :mod:`processing`,
not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from batchport_emulator.errors import batch_not_found
from batchport_emulator.lifecycle import (
    TERMINAL,
    TIMESTAMP_FIELD,
    TIMESTAMP_FIELDS,
    Status,
    check_transition,
)
from batchport_emulator.pagination import Page, paginate
from batchport_emulator.storage import read_json, write_json_atomic


@dataclass(slots=True)
class RequestCounts:
    total: int = 0
    completed: int = 0
    failed: int = 0


@dataclass(slots=True)
class UsageTotals:
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    def add(self, inp: int, cached: int, out: int, reasoning: int) -> None:
        self.input_tokens += inp
        self.cached_tokens += cached
        self.output_tokens += out
        self.reasoning_tokens += reasoning


@dataclass(slots=True)
class FaultPlan:
    """What the fault policy decided for this batch when it was created."""

    fail_validation: bool = False
    stuck_validating: bool = False
    stall_fraction: float | None = None  # rows done before stalling until expiry


@dataclass(slots=True)
class BatchErrorEntry:
    code: str
    message: str
    param: str | None = None
    line: int | None = None


@dataclass(slots=True)
class Batch:
    """One batch. Times are Unix seconds (``stage_since`` is precise virtual time)."""

    id: str
    seq: int
    dialect: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, str] | None
    output_expires_after_s: int | None
    created_at: int
    expires_at: int
    status: Status = Status.VALIDATING
    timestamps: dict[str, int | None] = field(
        default_factory=lambda: dict.fromkeys(TIMESTAMP_FIELDS)
    )
    model: str | None = None
    errors: list[BatchErrorEntry] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: RequestCounts = field(default_factory=RequestCounts)
    usage: UsageTotals = field(default_factory=UsageTotals)
    faults: FaultPlan = field(default_factory=FaultPlan)
    stage_since: float = 0.0
    polls_in_stage: int = 0
    executed: int = 0  # rows run so far, in the batch's shuffled order
    input_missing: bool = False
    # Enqueued tokens the batch holds against a model's (or deployment's) quota until
    # it finishes; stored so a restarted emulator still counts them.
    held_model: str | None = None
    held_tokens: int = 0
    #: the credential that created it, when API keys are configured (scopes access)
    principal: str | None = None
    #: Gemini's per-job ``webhook_config``: URIs replacing the configured ones, and the
    #: ``user_metadata`` its events echo
    webhook_uris: list[str] | None = None
    webhook_user_metadata: dict[str, Any] | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Batch:
        data = dict(data)
        data["status"] = Status(data["status"])
        data["counts"] = RequestCounts(**data["counts"])
        data["usage"] = UsageTotals(**data["usage"])
        data["faults"] = FaultPlan(**data["faults"])
        if data.get("errors") is not None:
            data["errors"] = [BatchErrorEntry(**e) for e in data["errors"]]
        return cls(**data)


class BatchStore:
    """All batches of all dialects, by id; listing is newest first."""

    def __init__(self, root: Path | None) -> None:
        self._root = root
        # kept in creation (seq) order, so listing never sorts; the unfinished ones are
        # indexed apart, so each processor tick costs what is running, not all ever made
        self._batches: dict[str, Batch] = {}
        self._active: dict[str, Batch] = {}
        self._on_terminal: list[Callable[[Batch], None]] = []
        self.seq = 0
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
            loaded = [Batch.from_record(read_json(p)) for p in root.glob("*.json")]
            for batch in sorted(loaded, key=lambda b: b.seq):
                self._index(batch)
                self.seq = max(self.seq, batch.seq)

    def _index(self, batch: Batch) -> None:
        self._batches[batch.id] = batch
        if batch.terminal:
            self._active.pop(batch.id, None)
        else:
            self._active[batch.id] = batch

    def save(self, batch: Batch) -> None:
        if self._root is not None:
            write_json_atomic(self._root / f"{batch.id}.json", batch.to_record())

    def add(self, batch: Batch) -> None:
        if self._batches and batch.seq < next(reversed(self._batches.values())).seq:
            self._batches = dict(sorted({**self._batches, batch.id: batch}.items(),
                                        key=lambda kv: kv[1].seq))  # fmt: skip
        self._index(batch)
        self.save(batch)

    def __contains__(self, batch_id: str) -> bool:
        return batch_id in self._batches

    def get(self, batch_id: str) -> Batch:
        """The batch; raises :class:`ApiError` 404 for an unknown id."""
        batch = self._batches.get(batch_id)
        if batch is None:
            raise batch_not_found(batch_id)
        return batch

    def finished(self, batch_id: str) -> bool:
        """Whether ``batch_id`` is unknown (reset or never made) or terminal."""
        batch = self._batches.get(batch_id)
        return batch is None or batch.terminal

    def all(self) -> list[Batch]:
        """Every batch, oldest first."""
        return list(self._batches.values())

    def active(self) -> list[Batch]:
        """The batches not finished yet, oldest first."""
        return [b for b in self._active.values() if not b.terminal]

    def list_batches(
        self, *, after: str | None, limit: int, visible: Callable[[Batch], bool] | None = None
    ) -> Page[Batch]:
        batches = self.all() if visible is None else [b for b in self.all() if visible(b)]
        return paginate(
            batches,
            after=after,
            limit=limit,
            position_of=lambda i: b.seq if (b := self._batches.get(i)) else None,
            position=lambda b: b.seq,
            descending=True,
        )

    def remove(self, batch_id: str) -> None:
        """Forget a batch (deleted by its client); its record on disk goes too."""
        self._batches.pop(batch_id, None)
        self._active.pop(batch_id, None)
        if self._root is not None:
            (self._root / f"{batch_id}.json").unlink(missing_ok=True)

    def record_poll(self, batch_id: str) -> None:
        """Count one status read of the batch (feeds the after-N-polls progression)."""
        batch = self.get(batch_id)
        if not batch.terminal:
            batch.polls_in_stage += 1

    def transition(self, batch: Batch, target: Status, now: float) -> None:
        """Move ``batch`` to ``target`` at virtual time ``now``; raises ``IllegalTransition``."""
        check_transition(batch.status, target)
        batch.status = target
        batch.timestamps[TIMESTAMP_FIELD[target]] = int(now)
        batch.stage_since = now
        batch.polls_in_stage = 0
        if batch.terminal:
            self._active.pop(batch.id, None)
        self.save(batch)
        if batch.terminal:
            for listener in self._on_terminal:
                listener(batch)

    def on_terminal(self, listener: Callable[[Batch], None]) -> None:
        """Call ``listener(batch)`` after each move into a terminal status."""
        self._on_terminal.append(listener)

    def clear(self) -> None:
        self._batches.clear()
        self._active.clear()
        if self._root is not None:
            for path in self._root.glob("*.json"):
                path.unlink(missing_ok=True)
