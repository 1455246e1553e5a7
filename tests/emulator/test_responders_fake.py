"""FakeResponder: bodies the SDK's own types accept, determinism, usage, and
the marker-driven outcomes (errors, refusals, truncation, content filter)."""

from __future__ import annotations

import base64
import math
from array import array
from typing import Any

import pytest
from openai._models import validate_type
from openai.types import Completion, CreateEmbeddingResponse, ModerationCreateResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from batchport_emulator.responders import (
    FakeResponder,
    ResponderConfig,
    RespondRequest,
    RespondResult,
    endpoint_path,
    estimate_tokens,
)

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"


def answer(
    url: str,
    body: dict[str, Any],
    custom_id: str | None = "row-1",
    *,
    dialect: str = "openai",
    config: ResponderConfig | None = None,
) -> RespondResult:
    responder = FakeResponder(config, clock=lambda: 1_700_000_000.5)
    request = RespondRequest(url, body, custom_id, dialect)  # type: ignore[arg-type]
    return responder.respond_now(request)


def chat_body(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def strict(type_: Any, body: dict[str, Any]) -> Any:
    """Validate as the SDK does with _strict_response_validation, and also with
    pydantic's strict mode (no type coercion at all)."""
    validate_type(type_=type_, value=body)
    return type_.model_validate(body, strict=True)


# -- every endpoint validates against the SDK's types ------------------------


@pytest.mark.parametrize("dialect", ["openai", "azure"])
def test_chat_body_is_a_strict_chat_completion(dialect: str) -> None:
    result = answer(CHAT, chat_body(), dialect=dialect)
    parsed = strict(ChatCompletion, result.body)
    assert result.status_code == 200
    assert parsed.id.startswith("chatcmpl-")
    assert len(parsed.id) == len("chatcmpl-") + 29
    assert parsed.model == "gpt-4o-mini"
    assert parsed.created == 1_700_000_000
    assert parsed.system_fingerprint
    assert parsed.system_fingerprint.startswith("fp_")
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.choices[0].message.content
    assert parsed.usage is not None
    assert parsed.usage.prompt_tokens == result.input_tokens
    assert parsed.usage.completion_tokens == result.output_tokens
    assert parsed.usage.total_tokens == result.input_tokens + result.output_tokens
    assert result.output_tokens == estimate_tokens(parsed.choices[0].message.content)


@pytest.mark.parametrize("dialect", ["openai", "azure"])
def test_responses_body_is_a_strict_response(dialect: str) -> None:
    body = {"model": "gpt-4.1", "input": "Write a haiku", "instructions": "Be brief."}
    result = answer(RESPONSES, body, dialect=dialect)
    parsed = strict(Response, result.body)
    assert parsed.id.startswith("resp_")
    assert len(parsed.id) == 5 + 48
    assert parsed.output[0].id.startswith("msg_")
    assert parsed.status == "completed"
    assert parsed.incomplete_details is None
    assert parsed.instructions == "Be brief."
    assert parsed.output_text
    assert parsed.usage is not None
    assert parsed.usage.input_tokens == result.input_tokens
    assert parsed.usage.output_tokens == result.output_tokens == estimate_tokens(parsed.output_text)
    assert ("content_filters" in result.body) == (dialect == "azure")
    if dialect == "azure":
        assert result.body["content_filters"] is None


def test_completion_and_moderation_bodies_validate() -> None:
    done = answer("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b"]})
    completion = strict(Completion, done.body)
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.id.startswith("cmpl-")
    moderated = answer("/v1/moderations", {"input": ["fine", "also fine"]})
    parsed = strict(ModerationCreateResponse, moderated.body)
    assert len(parsed.results) == 2
    assert not any(r.flagged for r in parsed.results)
    assert parsed.id.startswith("modr-")
    assert parsed.model == "omni-moderation-latest"
    assert "self-harm/intent" in moderated.body["results"][0]["categories"]


@pytest.mark.parametrize(
    ("inputs", "count"),
    [("one text", 1), (["a", "b", "c"], 3), ([1, 2, 3], 1), ([[1, 2], [3]], 2)],
)
def test_embeddings_shapes_and_dimensions(inputs: Any, count: int) -> None:
    body = {"model": "text-embedding-3-small", "input": inputs, "dimensions": 16}
    result = answer("/v1/embeddings", body)
    parsed = strict(CreateEmbeddingResponse, result.body)
    assert [d.index for d in parsed.data] == list(range(count))
    for item in parsed.data:
        assert len(item.embedding) == 16
        assert math.isclose(math.fsum(v * v for v in item.embedding), 1.0, rel_tol=1e-4)
    assert parsed.usage.prompt_tokens == parsed.usage.total_tokens == result.input_tokens > 0


def test_embedding_default_dimensions_follow_the_model() -> None:
    small = answer("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})
    large = answer("/v1/embeddings", {"model": "text-embedding-3-large", "input": "x"})
    assert len(small.body["data"][0]["embedding"]) == 1536
    assert len(large.body["data"][0]["embedding"]) == 3072
    config = ResponderConfig(embedding_dimensions=64)
    custom = answer("/v1/embeddings", {"model": "m", "input": "x"}, config=config)
    assert len(custom.body["data"][0]["embedding"]) == 64


def test_base64_embeddings_decode_to_the_float_vector() -> None:
    body: dict[str, Any] = {"model": "text-embedding-3-small", "input": "same", "dimensions": 8}
    floats = answer("/v1/embeddings", body).body["data"][0]["embedding"]
    encoded = answer("/v1/embeddings", {**body, "encoding_format": "base64"})
    raw = encoded.body["data"][0]["embedding"]
    assert isinstance(raw, str)
    decoded = array("f", base64.b64decode(raw)).tolist()
    assert decoded == floats


def test_same_text_embeds_identically_across_rows() -> None:
    body = {"model": "text-embedding-3-small", "input": "same", "dimensions": 8}
    first = answer("/v1/embeddings", body, "row-a").body["data"][0]["embedding"]
    second = answer("/v1/embeddings", body, "row-b").body["data"][0]["embedding"]
    other = answer("/v1/embeddings", {**body, "input": "other"}).body["data"][0]["embedding"]
    assert first == second != other


# -- determinism and paths ---------------------------------------------------


def test_answers_are_deterministic_per_seed_and_custom_id() -> None:
    base = answer(CHAT, chat_body(), "row-1").body
    assert answer(CHAT, chat_body(), "row-1").body == base
    assert answer(CHAT, chat_body(), "row-2").body["id"] != base["id"]
    other_seed = answer(CHAT, chat_body(), "row-1", config=ResponderConfig(seed=7)).body
    assert other_seed["id"] != base["id"]


def test_realtime_calls_are_seeded_by_the_body() -> None:
    first = answer(CHAT, chat_body("a"), None).body
    assert answer(CHAT, chat_body("a"), None).body == first
    assert answer(CHAT, chat_body("b"), None).body["id"] != first["id"]


@pytest.mark.parametrize(
    "url",
    [
        "/v1/chat/completions",
        "/chat/completions",
        "/openai/v1/chat/completions",
        "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21",
    ],
)
def test_path_forms_are_accepted(url: str) -> None:
    assert endpoint_path(url) == "/chat/completions"
    assert answer(url, chat_body()).status_code == 200


def test_unknown_endpoint_is_the_real_404() -> None:
    result = answer("/v1/images/variations", chat_body())
    assert result.status_code == 404
    assert result.body["error"]["message"] == "Invalid URL (POST /v1/images/variations)"


# -- usage, n, max tokens ----------------------------------------------------


def test_n_choices_sum_their_tokens() -> None:
    result = answer(CHAT, chat_body(n=3), config=ResponderConfig(reasoning_tokens=5))
    parsed = strict(ChatCompletion, result.body)
    assert [c.index for c in parsed.choices] == [0, 1, 2]
    texts = [c.message.content or "" for c in parsed.choices]
    assert len(set(texts)) == 3
    assert result.output_tokens == sum(estimate_tokens(t) for t in texts) + 15
    assert result.reasoning_tokens == 15
    details = parsed.usage.completion_tokens_details  # type: ignore[union-attr]
    assert details is not None
    assert details.reasoning_tokens == 15


def test_max_tokens_cuts_output_with_finish_length() -> None:
    config = ResponderConfig(output_words=200)
    result = answer(CHAT, chat_body(max_completion_tokens=10), config=config)
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert 0 < estimate_tokens(choice["message"]["content"]) <= 10
    assert result.output_tokens <= 10
    response = answer(
        RESPONSES, {"model": "m", "input": "x", "max_output_tokens": 10}, config=config
    )
    parsed = strict(Response, response.body)
    assert parsed.status == "incomplete"
    assert parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "max_output_tokens"


def test_output_words_knob_controls_length() -> None:
    short = answer(CHAT, chat_body(), config=ResponderConfig(output_words=3))
    long = answer(CHAT, chat_body(), config=ResponderConfig(output_words=300))
    assert len(short.body["choices"][0]["message"]["content"].split()) == 3
    assert len(long.body["choices"][0]["message"]["content"].split()) == 300
    assert long.output_tokens > short.output_tokens


def test_prompt_tokens_grow_with_the_prompt() -> None:
    small = answer(CHAT, chat_body("hi"))
    big = answer(CHAT, chat_body("hi " * 500))
    parts = answer(CHAT, {"model": "m", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi " * 500}]}]})  # fmt: skip
    assert big.input_tokens > small.input_tokens + 400
    assert parts.input_tokens == big.input_tokens


def test_reasoning_tokens_add_a_reasoning_item_to_responses() -> None:
    config = ResponderConfig(reasoning_tokens=64)
    result = answer(RESPONSES, {"model": "o4-mini", "input": "x"}, config=config)
    parsed = strict(Response, result.body)
    assert [item.type for item in parsed.output] == ["reasoning", "message"]
    assert result.reasoning_tokens == 64
    assert result.output_tokens == estimate_tokens(parsed.output_text) + 64
