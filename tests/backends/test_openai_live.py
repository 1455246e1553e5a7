"""The conformance suite against the real OpenAI API: opt-in, with a tiny batch.

Runs only with ``BATCHPORT_LIVE=1`` and ``OPENAI_API_KEY`` set; otherwise every case is
skipped with the reason (``pytest -ra`` prints it). See docs/backends.md.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from batchport.backends.openai import OpenAIBackend

from .conformance import FileBackendConformance, Harness, PollingHarness

_LIVE = os.environ.get("BATCHPORT_LIVE") == "1"
_KEY = bool(os.environ.get("OPENAI_API_KEY"))

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not _LIVE, reason="live OpenAI suite: set BATCHPORT_LIVE=1 to run"),
    pytest.mark.skipif(_LIVE and not _KEY, reason="live OpenAI suite: OPENAI_API_KEY is not set"),
]


class TestOpenAILive(FileBackendConformance):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[OpenAIBackend]:
        async with OpenAIBackend() as backend:
            yield backend

    @pytest.fixture
    def harness(self) -> Harness:
        harness = PollingHarness(
            poll_s=float(os.environ.get("BATCHPORT_LIVE_POLL_S", "15")),
            timeout_s=float(os.environ.get("BATCHPORT_LIVE_TIMEOUT_S", "7200")),
        )
        harness.model = os.environ.get("BATCHPORT_LIVE_MODEL", "gpt-4o-mini")
        return harness
