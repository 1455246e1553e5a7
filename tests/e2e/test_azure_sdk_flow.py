"""Microsoft's documented Python flow for Azure OpenAI global batch, unchanged, against
the emulator: with an API key, and with Microsoft Entra ID through real azure-identity
bearer-token providers over small local credentials (sync and async).

The flow follows Microsoft's batch how-to (AzureOpenAI with api_version, files.create,
batches.create with endpoint "/chat/completions", a status loop, download); only the
60 s poll sleep is shortened and the uploaded file is closed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.identity import get_bearer_token_provider
from azure.identity.aio import get_bearer_token_provider as get_async_bearer_token_provider
from openai import AsyncAzureOpenAI, AzureOpenAI

from batchport_emulator import EmulatorThread

DEPLOYMENT = "gpt-4o-batch"
SCOPE = "https://cognitiveservices.azure.com/.default"
POLL_S = 0.01


def fake_entra_jwt() -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"aud": "https://cognitiveservices.azure.com", "exp": int(time.time()) + 3600}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.bG9jYWw"


class LocalCredential:
    """A synchronous TokenCredential issuing a local JWT; counts token requests."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(fake_entra_jwt(), int(time.time()) + 3600)

    def close(self) -> None:
        pass


class LocalAsyncCredential:
    """An AsyncTokenCredential issuing a local JWT."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(fake_entra_jwt(), int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> LocalAsyncCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    config = {
        "api_keys": ["azk-documented-flow"],
        "azure": {
            "deployments": [{"name": DEPLOYMENT, "model": "gpt-4o"}],
            "bearer_validator": "jwt",
        },
    }
    with EmulatorThread(config) as emu:
        yield emu


@pytest.fixture
def test_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "test.jsonl"
    rows = [
        {
            "custom_id": f"task-{i}",
            "method": "POST",
            "url": "/chat/completions",
            "body": {
                "model": DEPLOYMENT,
                "messages": [
                    {"role": "system", "content": "You are an AI assistant."},
                    {"role": "user", "content": question},
                ],
            },
        }
        for i, question in enumerate(["When was Microsoft founded?", "What is Azure?", "Hi"])
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def documented_flow(client: AzureOpenAI, path: Path) -> list[dict[str, Any]]:
    # Upload a file with a purpose of "batch" (the sample leaves the file open; closed here)
    with open(path, "rb") as fh:
        file = client.files.create(file=fh, purpose="batch")
    file_id = file.id
    # Submit a batch job with the file
    batch_response = client.batches.create(
        input_file_id=file_id,
        endpoint="/chat/completions",  # type: ignore[arg-type]  # as Microsoft's sample
        completion_window="24h",
    )
    batch_id = batch_response.id
    # Track batch job progress
    status = "validating"
    while status not in ("completed", "failed", "canceled", "cancelled", "expired"):
        time.sleep(POLL_S)
        batch_response = client.batches.retrieve(batch_id)
        status = batch_response.status
    assert batch_response.status == "completed", batch_response.errors
    # Retrieve batch job output file
    output_file_id = batch_response.output_file_id
    if not output_file_id:
        output_file_id = batch_response.error_file_id
    assert output_file_id
    file_response = client.files.content(output_file_id)
    raw_responses = file_response.text.strip().split("\n")
    return [json.loads(raw) for raw in raw_responses]


def check_results(results: list[dict[str, Any]]) -> None:
    assert sorted(r["custom_id"] for r in results) == ["task-0", "task-1", "task-2"]
    for r in results:
        assert r["response"]["status_code"] == 200
        assert r["error"] is None
        choice = r["response"]["body"]["choices"][0]
        assert choice["message"]["content"]
        assert "content_filter_results" in choice


def test_documented_flow_with_an_api_key(
    emulator: EmulatorThread, test_jsonl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azk-documented-flow")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", emulator.url)
    client = AzureOpenAI(
        api_key=os.getenv("AZURE_OPENAI_API_KEY"),
        api_version="2024-10-21",
        azure_endpoint=os.getenv("AZURE_OPENAI_ENDPOINT"),
    )
    with client:
        check_results(documented_flow(client, test_jsonl))


def test_wrong_key_is_refused(emulator: EmulatorThread) -> None:
    from openai import AuthenticationError

    client = AzureOpenAI(
        api_key="azk-wrong", api_version="2024-10-21", azure_endpoint=emulator.url, max_retries=0
    )
    with client, pytest.raises(AuthenticationError, match="invalid subscription key"):
        client.batches.list()


def test_documented_flow_with_entra_id_sync(emulator: EmulatorThread, test_jsonl: Path) -> None:
    credential = LocalCredential()
    token_provider = get_bearer_token_provider(credential, SCOPE)
    client = AzureOpenAI(
        azure_endpoint=emulator.url,
        azure_ad_token_provider=token_provider,
        api_version="2024-10-21",
    )
    with client:
        check_results(documented_flow(client, test_jsonl))
    assert credential.scopes and set(credential.scopes) == {(SCOPE,)}


async def test_async_client_with_entra_id(emulator: EmulatorThread, test_jsonl: Path) -> None:
    data = await asyncio.to_thread(test_jsonl.read_bytes)
    async with LocalAsyncCredential() as credential:
        provider = get_async_bearer_token_provider(credential, SCOPE)
        async with AsyncAzureOpenAI(
            azure_endpoint=emulator.url, azure_ad_token_provider=provider, api_version="2024-10-21"
        ) as client:
            file = await client.files.create(file=(test_jsonl.name, data), purpose="batch")
            batch = await client.batches.create(
                input_file_id=file.id,
                endpoint="/chat/completions",  # type: ignore[arg-type]
                completion_window="24h",
            )
            for _ in range(200):
                batch = await client.batches.retrieve(batch.id)
                if batch.status in ("completed", "failed"):
                    break
                await asyncio.sleep(POLL_S)
            assert batch.status == "completed"
            assert batch.output_file_id
            text = (await client.files.content(batch.output_file_id)).text
            check_results([json.loads(line) for line in text.splitlines()])
        assert len(credential.scopes) == 1  # cached by azure-identity across every call
