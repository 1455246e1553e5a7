"""The conformance suite against the embedded emulator (runs in ``make test``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from batchport.backends.base import Backend
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.models import JobStatus, Outcome

from .conformance import FileBackendConformance, Harness, answered, chat_line, read_rows

# Each stage lasts a few polls, so every status is observable and a batch can be held
# half-way with some rows done; no real time passes.
CONFIG: dict[str, Any] = {"progression": {"kind": "after_polls", "polls": 3}}


class EmulatorHarness(Harness):
    forces_row_failures = True
    holds_progress = True
    shuffles_output = True
    shows_every_stage = True
    strict_list_order = True

    def __init__(self, backend: EmulatorBackend) -> None:
        self.backend = backend

    async def tick(self) -> None:
        emulator = self.backend.emulator
        assert emulator is not None
        emulator.advance_clock(1.0)


class TestEmulatorBackend(FileBackendConformance):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[EmulatorBackend]:
        async with EmulatorBackend(CONFIG) as backend:
            await backend.start()
            yield backend

    @pytest.fixture
    def harness(self, backend: Backend) -> Harness:
        assert isinstance(backend, EmulatorBackend)
        return EmulatorHarness(backend)

    # Emulator-only cases: outcomes forced through the fault config rather than markers.

    async def test_all_rows_failing_still_completes_without_output(
        self, backend: EmulatorBackend, harness: EmulatorHarness, tmp_path: Path
    ) -> None:
        emulator = backend.emulator
        assert emulator is not None
        emulator.configure({"faults": {"row_failure_rate": 1.0, "row_failure_statuses": [429]}})
        lines = [chat_line(harness, f"f{i}", "Say hi") for i in range(4)]
        job, _ = await harness.settle(
            backend, await self._submit(backend, harness, tmp_path, lines)
        )
        assert job.status is JobStatus.COMPLETED
        assert "output" not in job.refs
        assert (job.counts.completed, job.counts.failed) == (0, 4)
        rows = await read_rows(backend, job)
        assert {r.status_code for r in rows} == {429}
        assert all(r.error is not None and r.error.code == "rate_limit_exceeded" for r in rows)
        assert all(r.outcome is Outcome.FAILED and r.retryable for r in rows)

    async def test_expired_batch_keeps_done_rows_and_marks_the_rest(
        self, backend: EmulatorBackend, harness: EmulatorHarness, tmp_path: Path
    ) -> None:
        emulator = backend.emulator
        assert emulator is not None
        emulator.configure({"faults": {"expire_rate": 1.0, "expire_progress": 0.5}})
        ids = [f"e{i}" for i in range(6)]
        lines = [chat_line(harness, c, "Say hi") for c in ids]
        created = await self._submit(backend, harness, tmp_path, lines)
        for _ in range(20):  # let the half that may run, run
            await backend.poll(created)
        emulator.advance_clock(2 * 86_400)
        job, _ = await harness.settle(backend, created)
        assert job.status is JobStatus.EXPIRED
        assert job.raw["expired_at"] is not None
        rows = await read_rows(backend, job)
        ok = [r for r in rows if answered(r)]
        expired = [r for r in rows if not answered(r)]
        assert len(ok) == job.counts.completed == 3
        assert {r.custom_id for r in rows} == set(ids)
        assert all(r.status_code is None for r in expired)
        assert {(r.outcome, r.retryable) for r in expired} == {(Outcome.EXPIRED, True)}
        assert {r.error.code for r in expired if r.error} == {"batch_expired"}
