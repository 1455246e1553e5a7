"""The conformance suite on the Gemini backend against the emulator's Gemini dialect
(served on loopback, driven through the official ``google-genai`` SDK), inline and
file mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from batchport.backends.base import Backend
from batchport.backends.gemini import GeminiBackend
from batchport_emulator import Emulator

from ..conformance import BackendConformance, Harness

# Each stage lasts a few polls; no real time passes.
CONFIG: dict[str, Any] = {"progression": {"kind": "after_polls", "polls": 3}}


class GeminiHarness(Harness):
    forces_row_failures = True
    shuffles_output = True
    validates_lines = False  # each request is checked on its own: failed rows, not a failed job
    tags_jobs = False
    model = "gemini-2.5-flash"
    endpoint = "/v1beta/generateContent"
    url = "/v1beta/generateContent"
    body_kind = None

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def body(self, text: str) -> dict[str, Any]:
        return {
            "model": self.model,
            "contents": [{"role": "user", "parts": [{"text": text}]}],
            "generationConfig": {"maxOutputTokens": 5},
        }

    async def tick(self) -> None:
        self.emulator.advance_clock(1.0)


class TestGeminiBackend(BackendConformance):
    @pytest.fixture
    async def emulator(self) -> AsyncIterator[Emulator]:
        async with Emulator(CONFIG) as emu:
            yield emu

    @pytest.fixture(params=["inline", "file"])
    def mode(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    async def backend(self, emulator: Emulator, mode: str) -> AsyncIterator[GeminiBackend]:
        limit = 0 if mode == "file" else 19 * 1024 * 1024  # 0: every shard goes as a file
        backend = GeminiBackend(base_url=emulator.url, api_key="gm-test-key", inline_limit=limit)
        async with backend:
            yield backend

    @pytest.fixture
    def harness(self, backend: Backend, emulator: Emulator) -> Harness:
        return GeminiHarness(emulator)
