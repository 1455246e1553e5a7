"""The ``batch_emulator_config`` fixture can be overridden per module."""

from __future__ import annotations

import pytest

from batchport_emulator import EmulatorThread


@pytest.fixture
def batch_emulator_config() -> dict[str, object]:
    return {"profile": "realistic", "seed": 11}


def test_override_reaches_the_emulator(batch_emulator: EmulatorThread) -> None:
    assert batch_emulator.config.seed == 11
    assert batch_emulator.config.progression.kind == "throughput"
    assert batch_emulator.base_url.startswith("http://127.0.0.1:")
