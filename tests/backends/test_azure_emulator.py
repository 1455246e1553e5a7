"""The conformance suite for ``azure`` against the emulator's Azure dialect, on the
classic API (``api-version``) and on ``/openai/v1/`` (runs in ``make test``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from batchport.backends.azure import AzureBackend
from batchport.backends.base import Backend
from batchport.backends.models import JobStatus
from batchport_emulator import Emulator

from .conformance import FileBackendConformance, Harness, chat_line, read_rows

# Each stage lasts a few polls (every status observable, a batch can be held half-way);
# uploads stay pending for one read, so every upload exercises the wait for processed.
CONFIG: dict[str, Any] = {
    "progression": {"kind": "after_polls", "polls": 3},
    "azure": {"file_processing_polls": 1},
}


class AzureEmulatorHarness(Harness):
    forces_row_failures = True
    holds_progress = True
    shuffles_output = True
    shows_every_stage = True
    strict_list_order = True
    url_error_code = "url_mismatch"
    model = "gpt-4o-mini-batch"  # quick start: any deployment name is a GlobalBatch one

    def __init__(self, emulator: Emulator, *, v1: bool) -> None:
        self.emulator = emulator
        self.endpoint = self.url = "/v1/chat/completions" if v1 else "/chat/completions"

    async def tick(self) -> None:
        self.emulator.advance_clock(1.0)

    async def refuse_for_quota(self, mode: str) -> bool:
        deployment = {"name": self.model, "enqueued_token_limit": 1}
        self.emulator.configure({"azure": {"deployments": [deployment], "token_limit_mode": mode}})
        return True


async def _no_wait(seconds: float) -> None:
    return None


class AzureConformance(FileBackendConformance):
    v1 = False

    @pytest.fixture
    async def emulator(self) -> AsyncIterator[Emulator]:
        async with Emulator(CONFIG) as emulator:
            yield emulator

    @pytest.fixture
    async def backend(self, emulator: Emulator) -> AsyncIterator[AzureBackend]:
        async with AzureBackend(
            endpoint=emulator.url, api_key="azk-conformance", use_v1=self.v1, sleep=_no_wait
        ) as backend:
            yield backend

    @pytest.fixture
    def harness(self, emulator: Emulator) -> Harness:
        return AzureEmulatorHarness(emulator, v1=self.v1)

    async def test_success_leaves_an_empty_error_file(
        self, backend: AzureBackend, harness: Harness, tmp_path: Path
    ) -> None:
        lines = [chat_line(harness, f"ok{i}", "Say hi") for i in range(3)]
        job, _ = await harness.settle(
            backend, await self._submit(backend, harness, tmp_path, lines)
        )
        assert job.status is JobStatus.COMPLETED
        assert "error" in job.refs
        assert (await backend.retrieve_file(job.refs["error"])).bytes == 0
        rows = await read_rows(backend, job)
        assert sorted(r.custom_id for r in rows) == ["ok0", "ok1", "ok2"]
        assert all("id" not in orjson.loads(r.raw) for r in rows)  # Azure lines carry no id
        assert all(r.source == job.refs["output"] for r in rows)

    async def test_the_batch_endpoint_takes_this_api_form(
        self, backend: Backend, harness: Harness, tmp_path: Path
    ) -> None:
        lines = [chat_line(harness, "f1", "Say hi")]
        job = await self._submit(backend, harness, tmp_path, lines)
        assert job.raw["endpoint"] == harness.endpoint
        await harness.settle(backend, job)


class TestAzureClassic(AzureConformance):
    v1 = False


class TestAzureV1(AzureConformance):
    v1 = True
