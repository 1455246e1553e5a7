"""The conformance suite on the Anthropic backend against the emulator's Anthropic
dialect (served on loopback, driven through the official ``anthropic`` SDK)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from batchport.backends.anthropic import AnthropicBackend
from batchport.backends.base import Backend
from batchport_emulator import Emulator

from ..conformance import BackendConformance, Harness

# Each stage lasts a few polls; no real time passes.
CONFIG: dict[str, Any] = {"progression": {"kind": "after_polls", "polls": 3}}


class AnthropicHarness(Harness):
    forces_row_failures = True
    shuffles_output = True
    validates_lines = False  # params are checked per request: errored rows, not a failed job
    tags_jobs = False
    model = "claude-haiku-4-5"
    endpoint = "/v1/messages"
    url = "/v1/messages"
    body_kind = ("type", "message")

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def tick(self) -> None:
        self.emulator.advance_clock(1.0)


class TestAnthropicBackend(BackendConformance):
    @pytest.fixture
    async def emulator(self) -> AsyncIterator[Emulator]:
        async with Emulator(CONFIG) as emu:
            yield emu

    @pytest.fixture
    async def backend(self, emulator: Emulator) -> AsyncIterator[AnthropicBackend]:
        async with AnthropicBackend(base_url=emulator.url, api_key="sk-ant-test") as backend:
            yield backend

    @pytest.fixture
    def harness(self, backend: Backend, emulator: Emulator) -> Harness:
        return AnthropicHarness(emulator)
