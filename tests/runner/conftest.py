from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from batchport.backends.emulator import EmulatorBackend
from batchport.requests import Request
from batchport.runner import InstantClock, Run
from batchport.store import Store


def chat(i: int, text: str | None = None, model: str = "gpt-4o-mini") -> Request:
    return Request(
        custom_id=f"r{i:05d}",
        url="/v1/chat/completions",
        body={"model": model, "messages": [{"role": "user", "content": text or f"row {i}"}]},
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
async def backend_factory() -> AsyncIterator[Callable[[dict[str, Any]], EmulatorBackend]]:
    made: list[EmulatorBackend] = []

    def factory(config: dict[str, Any] | None = None) -> EmulatorBackend:
        be = EmulatorBackend(config or {})
        made.append(be)
        return be

    yield factory
    for be in made:
        await be.aclose()


@pytest.fixture
def clock() -> InstantClock:
    # real_sleep lets the emulator's background processing move between polls
    return InstantClock(real_sleep=0.005)


def assert_one_outcome_each(run: Run, requests: list[Request]) -> None:
    """The ledger has exactly one settled outcome per input row, and nothing else."""
    results = list(run.results())
    assert [r.custom_id for r in results] == [q.custom_id for q in requests]
    assert all(r.outcome is not None for r in results)
    counts = run.store.outcome_counts(run.id)
    assert None not in counts
    assert sum(counts.values()) == len(requests)


def store_of(run: Run) -> Store:
    return run.store
