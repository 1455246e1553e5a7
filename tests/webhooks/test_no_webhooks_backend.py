"""Webhooks given to a run whose provider sends none: the run polls as usual, and says so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import batchport as bp
from batchport.backends.anthropic import AnthropicBackend
from batchport.backends.azure import AzureBackend
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.gemini import GeminiBackend
from batchport.backends.memory import MemoryBackend
from batchport.backends.openai import OpenAIBackend
from batchport.runner import InstantClock
from batchport.webhooks import WebhookOptions

HOUR = 3600.0


def test_which_providers_send_batch_webhooks() -> None:
    assert OpenAIBackend.sends_webhooks and EmulatorBackend.sends_webhooks
    assert GeminiBackend.sends_webhooks and AzureBackend.sends_webhooks
    assert not AnthropicBackend.sends_webhooks


async def test_a_run_on_a_backend_without_webhooks_polls_at_its_own_pace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requests = [
        bp.Request.build(
            f"r{i}",
            "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        for i in range(3)
    ]
    backend = MemoryBackend(polls=4)  # the job ends at its fourth poll
    clock = InstantClock()
    caplog.set_level(logging.WARNING, logger="batchport.runner")
    run = await bp.run(
        requests, backend=backend, home=tmp_path, clock=clock, progress=False,
        webhooks=WebhookOptions(poll_fallback_s=HOUR),  # watch the store: no receiver
    )  # fmt: skip
    with run:
        assert run.outcomes == {"succeeded": 3}
    # honouring the webhooks would have waited an hour between polls for events
    # that never come
    assert max(clock.slept) < HOUR and clock.now() < HOUR
    assert "sends no batch webhooks" in caplog.text
