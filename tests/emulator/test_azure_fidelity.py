"""The Azure dialect as Azure's own samples show it, checked with the strict SDK:
uploads ``processed`` at once, Azure-shaped ids, model versions in result bodies."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from conftest import StateFactory
from emu_jsonl import jsonl
from openai import AsyncAzureOpenAI
from test_azure_rules import row, upload

from batchport_emulator import Emulator

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


async def test_strict_sdk_round_trip_with_azure_ids_and_model_version() -> None:
    data = jsonl([row(i, model="gpt-4o-batch") for i in range(3)])
    async with Emulator() as emu:
        client = AsyncAzureOpenAI(
            azure_endpoint=emu.url,
            api_key="azk-test",
            api_version="2024-10-21",
            _strict_response_validation=True,
            max_retries=0,
        )
        async with client:
            uploaded = await client.files.create(file=("in.jsonl", data), purpose="batch")
            assert uploaded.status == "processed"
            assert re.fullmatch(r"file-[0-9a-f]{32}", uploaded.id)
            batch = await client.batches.create(
                input_file_id=uploaded.id,
                endpoint="/chat/completions",  # type: ignore[arg-type]
                completion_window="24h",
            )
            assert re.fullmatch("batch_" + UUID, batch.id)
            for _ in range(200):
                batch = await client.batches.retrieve(batch.id)
                if batch.status == "completed":
                    break
                await asyncio.sleep(0.01)
            assert batch.status == "completed"
            assert batch.output_file_id is not None
            assert re.fullmatch("file-" + UUID, batch.output_file_id)
            text = (await client.files.content(batch.output_file_id)).text
    models = {json.loads(line)["response"]["body"]["model"] for line in text.splitlines()}
    assert models == {"gpt-4o-2024-08-06"}


async def test_a_configured_deployment_names_its_version(make_state: StateFactory) -> None:
    deployments: list[dict[str, Any]] = [
        {"name": "mine", "model": "gpt-4.1-mini"},
        {"name": "pinned", "model": "gpt-4o", "version": "gpt-4o-2024-05-13"},
    ]
    state = await make_state(azure={"deployments": deployments})
    rules = state.dialects["azure"].rules
    batch: Any = None
    for name, version in (("mine", "gpt-4.1-mini-2025-04-14"), ("pinned", "gpt-4o-2024-05-13")):
        body = {"object": "chat.completion", "model": name}
        assert rules.result_body(batch, body)["model"] == version
    responses = {"object": "response", "model": "mine"}
    assert rules.result_body(batch, responses) == responses


async def test_an_upload_is_pending_only_with_a_processing_delay(make_state: StateFactory):
    plain = await make_state()
    record = plain.files.get(upload(plain, jsonl([row(0)])))
    assert record.status == "processed"
    delayed = await make_state(azure={"file_processing_s": 5})
    record = delayed.files.get(upload(delayed, jsonl([row(0)])))
    assert record.status == "pending"
