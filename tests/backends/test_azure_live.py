"""The conformance suite against a real Azure OpenAI resource: opt-in, with tiny batches.

Runs only with ``BATCHPORT_LIVE=1``, ``AZURE_OPENAI_ENDPOINT`` and either
``AZURE_OPENAI_API_KEY`` or ``BATCHPORT_LIVE_AZURE_ENTRA=1`` (DefaultAzureCredential),
plus ``BATCHPORT_LIVE_AZURE_DEPLOYMENT`` naming a GlobalBatch deployment. Otherwise every
case is skipped with the reason (``pytest -ra`` prints it). See docs/backends.md.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from batchport.backends.azure import AzureBackend

from .conformance import FileBackendConformance, Harness, PollingHarness

_LIVE = os.environ.get("BATCHPORT_LIVE") == "1"
_ENDPOINT = bool(os.environ.get("AZURE_OPENAI_ENDPOINT"))
_AUTH = bool(os.environ.get("AZURE_OPENAI_API_KEY")) or (
    os.environ.get("BATCHPORT_LIVE_AZURE_ENTRA") == "1"
)
_DEPLOYMENT = os.environ.get("BATCHPORT_LIVE_AZURE_DEPLOYMENT", "")
_V1 = os.environ.get("BATCHPORT_LIVE_AZURE_V1") == "1"

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not _LIVE, reason="live Azure suite: set BATCHPORT_LIVE=1 to run"),
    pytest.mark.skipif(
        _LIVE and not (_ENDPOINT and _AUTH and _DEPLOYMENT),
        reason="live Azure suite: needs AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY (or "
        "BATCHPORT_LIVE_AZURE_ENTRA=1) and BATCHPORT_LIVE_AZURE_DEPLOYMENT",
    ),
]


class TestAzureLive(FileBackendConformance):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[AzureBackend]:
        async with AzureBackend(use_v1=_V1) as backend:
            yield backend

    @pytest.fixture
    def harness(self) -> Harness:
        harness = PollingHarness(
            poll_s=float(os.environ.get("BATCHPORT_LIVE_POLL_S", "60")),
            timeout_s=float(os.environ.get("BATCHPORT_LIVE_TIMEOUT_S", "86400")),
        )
        harness.model = _DEPLOYMENT
        harness.endpoint = harness.url = "/v1/chat/completions" if _V1 else "/chat/completions"
        harness.url_error_code = "url_mismatch"
        return harness
