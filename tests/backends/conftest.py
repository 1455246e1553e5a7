"""Fixtures shared by the backend tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2
import openai
import pytest

from batchport.backends.openai import OpenAIBackend

Handler = Callable[[httpx2.Request], httpx2.Response]


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[[Handler], OpenAIBackend]]:
    clients: list[openai.AsyncOpenAI] = []

    def make(handler: Handler) -> OpenAIBackend:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        client = openai.AsyncOpenAI(
            api_key="sk-x", base_url="http://mock.test/v1", http_client=http
        )
        clients.append(client)
        return OpenAIBackend(client)

    yield make
    for client in clients:
        await client.close()
