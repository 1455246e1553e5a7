"""The conformance suite against the real Anthropic API: opt-in, with a tiny batch.

Runs only with ``BATCHPORT_LIVE=1`` and ``ANTHROPIC_API_KEY`` set; otherwise every case
is skipped with the reason (``pytest -ra`` prints it). See docs/backends.md.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from batchport.backends.anthropic import AnthropicBackend

from ..conformance import BackendConformance, Harness, PollingHarness

_LIVE = os.environ.get("BATCHPORT_LIVE") == "1"
_KEY = bool(os.environ.get("ANTHROPIC_API_KEY"))

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not _LIVE, reason="live Anthropic suite: set BATCHPORT_LIVE=1 to run"),
    pytest.mark.skipif(
        _LIVE and not _KEY, reason="live Anthropic suite: ANTHROPIC_API_KEY is not set"
    ),
]


class TestAnthropicLive(BackendConformance):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[AnthropicBackend]:
        async with AnthropicBackend() as backend:
            yield backend

    @pytest.fixture
    def harness(self) -> Harness:
        harness = PollingHarness(
            poll_s=float(os.environ.get("BATCHPORT_LIVE_POLL_S", "30")),
            timeout_s=float(os.environ.get("BATCHPORT_LIVE_TIMEOUT_S", "7200")),
        )
        harness.model = os.environ.get("BATCHPORT_LIVE_ANTHROPIC_MODEL", "claude-haiku-4-5")
        harness.endpoint = harness.url = "/v1/messages"
        harness.validates_lines = False
        harness.tags_jobs = False
        harness.body_kind = ("type", "message")
        return harness
