"""Tiny requests must not make the fake responder stall or exhaust the server:
embedding sizes as the real models have them, bounded schema instances and
patterns, heavy bodies built off the event loop."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import pytest
from test_http_api import AUTH, MakeClient

from batchport_emulator.responders import FakeResponder, RespondRequest
from batchport_emulator.responders.jsonschema_fake import MAX_CHARS, MAX_NODES, compile_schema
from batchport_emulator.responders.strings import MAX_STRING, pattern_string


def _embed(model: str, dims: int | None, inputs: Any = "x") -> RespondRequest:
    body: dict[str, Any] = {"model": model, "input": inputs}
    if dims is not None:
        body["dimensions"] = dims
    return RespondRequest(url="/v1/embeddings", body=body)


@pytest.mark.parametrize(
    ("model", "largest"),
    [
        ("text-embedding-3-large", 3072),
        ("text-embedding-3-small", 1536),
        ("my-azure-text-embedding-3-small-deployment", 1536),
        ("some-other-embedder", 4096),
    ],
)
async def test_dimensions_stop_at_the_models_size(model: str, largest: int) -> None:
    fake = FakeResponder()
    ok = await fake.respond(_embed(model, largest))
    assert ok.status_code == 200
    assert len(ok.body["data"][0]["embedding"]) == largest
    for too_many in (largest + 1, 1_000_000):
        refused = await fake.respond(_embed(model, too_many))
        assert refused.status_code == 400
        assert refused.body["error"]["param"] == "dimensions"
        assert str(largest) in refused.body["error"]["message"]


async def test_ada_002_takes_no_dimensions() -> None:
    fake = FakeResponder()
    refused = await fake.respond(_embed("text-embedding-ada-002", 1536))
    assert refused.status_code == 400
    assert refused.body["error"]["message"] == "This model does not support specifying dimensions."
    plain = await fake.respond(_embed("text-embedding-ada-002", None))
    assert len(plain.body["data"][0]["embedding"]) == 1536


async def test_at_most_2048_inputs_per_request() -> None:
    fake = FakeResponder()
    ok = await fake.respond(_embed("text-embedding-3-small", 4, ["a"] * 2048))
    assert len(ok.body["data"]) == 2048
    refused = await fake.respond(_embed("text-embedding-3-small", 4, ["a"] * 2049))
    assert refused.status_code == 400
    assert "'$.input' is invalid" in refused.body["error"]["message"]


async def test_a_huge_dimensions_request_is_a_400_over_http(make_client: MakeClient) -> None:
    client = await make_client()
    body = {"model": "text-embedding-3-small", "input": "hi", "dimensions": 1_000_000}
    resp = await client.post("/v1/embeddings", json=body, headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"]["param"] == "dimensions"


def _count(value: Any) -> tuple[int, int]:
    """(array items + object members, characters in strings)."""
    if isinstance(value, list):
        parts = [_count(v) for v in value]
        return len(value) + sum(n for n, _ in parts), sum(c for _, c in parts)
    if isinstance(value, dict):
        parts = [_count(v) for v in value.values()]
        return len(value) + sum(n for n, _ in parts), sum(c for _, c in parts)
    return 0, len(value) if isinstance(value, str) else 0


def _nested(levels: int, leaf: dict[str, Any], items: int = 300) -> dict[str, Any]:
    schema = leaf
    for _ in range(levels):
        schema = {"type": "array", "minItems": items, "items": schema}
    return schema


@pytest.mark.parametrize(
    "schema",
    [
        _nested(3, {"type": "integer"}),
        _nested(3, {"type": "string", "minLength": 100_000_000}),
        _nested(2, {"type": "string", "pattern": "^a{9000}$"}),
        {"type": "object", "minProperties": 1_000_000_000},
        _nested(1, {"type": "object", "minProperties": 1_000}, items=1_000),
    ],
)
def test_schema_instances_are_bounded(schema: dict[str, Any]) -> None:
    value = compile_schema(schema).generate(random.Random(0))
    nodes, chars = _count(value)
    assert nodes <= MAX_NODES
    assert chars <= MAX_CHARS


@pytest.mark.parametrize("pattern", ["^a{5000000}$", "^(a{1000}){1000}$", "^(x{0,9999}){0,9999}$"])
def test_patterns_with_huge_repeats_are_bounded(pattern: str) -> None:
    text = pattern_string(pattern, random.Random(0))
    assert text is None or len(text) <= MAX_STRING


def test_small_patterns_still_match() -> None:
    assert pattern_string("^[a-c]{3}-[0-9]{2}$", random.Random(0)) is not None


def _chat_with_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "s", "schema": schema},
        },
    }


async def test_structured_and_large_bodies_are_built_off_the_loop() -> None:
    threads: list[int] = []

    class Recording(FakeResponder):
        def respond_now(self, request: RespondRequest) -> Any:
            threads.append(threading.get_ident())
            return super().respond_now(request)

    fake = Recording()
    schema = _chat_with_schema({"type": "string"})
    await fake.respond(RespondRequest(url="/v1/chat/completions", body=schema))
    await fake.respond(_embed("text-embedding-3-large", None, ["a"] * 64))
    await fake.respond(_embed("text-embedding-3-small", 8))  # small: stays on the loop
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    chat = {**schema, "response_format": None, "tools": [tool], "tool_choice": "required"}
    await fake.respond(RespondRequest(url="/v1/chat/completions", body=chat))
    loop_thread = threading.get_ident()
    assert [t != loop_thread for t in threads] == [True, True, False, True]


async def test_a_pathological_request_does_not_hold_up_others(make_client: MakeClient) -> None:
    client = await make_client()
    # the largest body the caps allow: 2048 vectors of 3072 floats (~130 MB of JSON)
    heavy = {"model": "text-embedding-3-large", "input": ["x"] * 2048, "encoding_format": "float"}
    done: list[str] = []

    async def call(name: str, method: str, path: str, body: Any = None) -> int:
        resp = await client.request(method, path, json=body, headers=AUTH)
        await resp.read()
        done.append(name)
        return resp.status

    slow = asyncio.create_task(call("heavy", "POST", "/v1/embeddings", heavy))
    await asyncio.sleep(0)  # the heavy request is sent first
    quick = [await call(f"quick{i}", "GET", "/v1/batches") for i in range(3)]
    assert quick == [200, 200, 200]
    assert await slow == 200
    assert done.index("quick0") < done.index("heavy")
