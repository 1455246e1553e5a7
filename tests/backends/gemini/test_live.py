"""The conformance suite against the real Gemini API: opt-in, with a tiny batch.

Runs only with ``BATCHPORT_LIVE=1`` and ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) set;
otherwise every case is skipped with the reason (``pytest -ra`` prints it).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from batchport.backends.gemini import GeminiBackend

from ..conformance import BackendConformance, Harness, PollingHarness
from .test_conformance import GeminiHarness

_LIVE = os.environ.get("BATCHPORT_LIVE") == "1"
_KEY = bool(os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"))

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not _LIVE, reason="live Gemini suite: set BATCHPORT_LIVE=1 to run"),
    pytest.mark.skipif(_LIVE and not _KEY, reason="live Gemini suite: GEMINI_API_KEY is not set"),
]


class _LiveHarness(PollingHarness):
    tags_jobs = False
    validates_lines = False
    body_kind = None
    endpoint = url = "/v1beta/generateContent"
    body = GeminiHarness.body


class TestGeminiLive(BackendConformance):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[GeminiBackend]:
        async with GeminiBackend() as backend:
            yield backend

    @pytest.fixture
    def harness(self) -> Harness:
        harness = _LiveHarness(
            poll_s=float(os.environ.get("BATCHPORT_LIVE_POLL_S", "30")),
            timeout_s=float(os.environ.get("BATCHPORT_LIVE_TIMEOUT_S", "7200")),
        )
        harness.model = os.environ.get("BATCHPORT_LIVE_GEMINI_MODEL", "gemini-2.5-flash")
        return harness
