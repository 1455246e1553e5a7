from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from emu_jsonl import chat_file

from batchport_emulator import create_app
from batchport_emulator.config import EmulatorConfig
from batchport_emulator.state import EmulatorState

StateFactory = Callable[..., Awaitable[EmulatorState]]
Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    async def factory(**config: Any) -> Client:
        client: Client = await aiohttp_client(create_app(config))
        return client

    return factory


@pytest.fixture
async def make_state() -> AsyncIterator[StateFactory]:
    """Build EmulatorStates (no HTTP, no background loop); all closed at teardown."""
    made: list[EmulatorState] = []

    async def factory(**config: Any) -> EmulatorState:
        state = EmulatorState(EmulatorConfig.model_validate(config))
        made.append(state)
        return state

    yield factory
    for state in made:
        await state.aclose()


def store_upload(
    state: EmulatorState, data: bytes, *, filename: str = "in.jsonl", purpose: str = "batch"
) -> str:
    """Upload ``data`` through the same sink the HTTP handler uses; return the file id."""
    sink = state.begin_upload()
    for start in range(0, len(data), 4096):
        sink.write(data[start : start + 4096])
    record = state.finish_upload(
        sink,
        filename=filename,
        purpose=purpose,
        expires_after_s=None,
        dialect=state.dialects["openai"],
    )
    return record.id


def content(state: EmulatorState, file_id: str | None) -> bytes:
    assert file_id is not None
    return Path(state.files.downloadable_path(file_id)).read_bytes()


def default_input(n: int = 5) -> bytes:
    return chat_file(n)
