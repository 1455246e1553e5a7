"""Live work of a validated batch: its row plan, shuffled order and open work files.

The processor (:mod:`batchport_emulator.processing`) keeps one :class:`BatchRun` per
batch in progress; nothing here survives a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

from batchport_emulator.validation import InputPlan


@dataclass(slots=True)
class WorkFile:
    """An output or error file being appended to; opened on the first write."""

    path: Path
    fh: IO[bytes] | None = None
    size: int = 0

    def write(self, data: bytes) -> None:
        if self.fh is None:
            self.fh = open(self.path, "ab", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        self.fh.write(data)
        self.size += len(data)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


@dataclass(slots=True)
class BatchRun:
    """Live work of one validated batch: its plan, row order and work files."""

    plan: InputPlan
    order: list[int]
    input: IO[bytes]
    output: WorkFile
    error: WorkFile
    tokens: int = 0
    model: str | None = None

    def close(self) -> None:
        self.input.close()
        self.output.close()
        self.error.close()
