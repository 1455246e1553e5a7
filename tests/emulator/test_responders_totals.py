"""Caps that hold for a whole answer: ``n`` choices share one generation budget
and stop at the real API's 128; embedding inputs stop at the model's context
(8192 tokens) and a request at 300,000 tokens, with the real 400s."""

from __future__ import annotations

from typing import Any

import pytest

from batchport_emulator.responders import FakeResponder, RespondRequest
from batchport_emulator.responders.jsonschema_fake import MAX_CHARS
from batchport_emulator.responders.rows import MAX_ANSWER_WORDS

_BIG_SCHEMA = {
    "type": "object",
    "properties": {
        "a": {
            "type": "array",
            "items": {"type": "string", "minLength": 5000},
            "minItems": 300,
        }
    },
    "required": ["a"],
    "additionalProperties": False,
}


def _chat(n: object, **extra: Any) -> RespondRequest:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": n}
    return RespondRequest(url="/v1/chat/completions", body={**body, **extra})


async def test_n_choices_share_one_schema_budget() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "big", "schema": _BIG_SCHEMA}}
    one = await FakeResponder().respond(_chat(1, response_format=fmt))
    many = await FakeResponder().respond(_chat(128, response_format=fmt))
    assert many.status_code == 200
    assert len(many.body["choices"]) == 128
    total = sum(len(c["message"]["content"]) for c in many.body["choices"])
    single = len(one.body["choices"][0]["message"]["content"])
    assert single > MAX_CHARS // 2  # one choice may use the whole budget
    assert total < 2 * MAX_CHARS  # 128 choices do not get 128 budgets


async def test_n_choices_share_one_word_budget() -> None:
    from batchport_emulator.responders import ResponderConfig

    fake = FakeResponder(ResponderConfig(output_words=4096))
    many = await fake.respond(_chat(128))
    words = sum(len(c["message"]["content"].split()) for c in many.body["choices"])
    assert words <= MAX_ANSWER_WORDS
    completions = await fake.respond(
        RespondRequest(
            url="/v1/completions",
            body={
                "model": "gpt-3.5-turbo-instruct",
                "prompt": ["a"] * 64,
                "n": 128,
                "max_tokens": 100000,
            },
        )
    )
    assert completions.status_code == 200
    assert len(completions.body["choices"]) == 64 * 128
    text = sum(len(c["text"].split()) for c in completions.body["choices"])
    assert text <= MAX_ANSWER_WORDS


@pytest.mark.parametrize(
    ("n", "code", "message"),
    [
        (129, "integer_above_max_value", "Expected a value <= 128, but got 129 instead."),
        (0, "integer_below_min_value", "Expected a value >= 1, but got 0 instead."),
    ],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
async def test_n_outside_1_to_128_is_the_real_400(
    path: str, n: int, code: str, message: str
) -> None:
    body: dict[str, Any] = {"model": "m", "n": n}
    body.update(
        {"messages": [{"role": "user", "content": "x"}]} if "chat" in path else {"prompt": "x"}
    )
    result = await FakeResponder().respond(RespondRequest(url=path, body=body))
    assert result.status_code == 400
    error = result.body["error"]
    assert (error["param"], error["code"], error["type"]) == ("n", code, "invalid_request_error")
    assert error["message"].startswith("Invalid 'n': integer ")
    assert error["message"].endswith(message)


async def test_n_of_the_wrong_type_is_a_400() -> None:
    result = await FakeResponder().respond(_chat("3"))
    assert result.status_code == 400
    assert result.body["error"]["param"] == "n"


def _embed(model: str, value: Any) -> RespondRequest:
    return RespondRequest(url="/v1/embeddings", body={"model": model, "input": value})


@pytest.mark.parametrize(
    ("model", "limit"),
    [("text-embedding-3-small", 8192), ("text-embedding-3-large", 8192),
     ("text-embedding-ada-002", 8191)],
)  # fmt: skip
async def test_an_embedding_input_past_the_context_is_the_real_400(model: str, limit: int) -> None:
    fake = FakeResponder()
    ok = await fake.respond(_embed(model, "abcd" * limit))  # exactly the limit
    assert ok.status_code == 200
    for value in ("abcd" * (limit + 1), ["short", "abcd" * (limit + 1)], [7] * (limit + 1)):
        refused = await fake.respond(_embed(model, value))
        assert refused.status_code == 400
        error = refused.body["error"]
        assert error["message"].startswith(
            f"This model's maximum context length is {limit} tokens, however you requested "
            f"{limit + 1} tokens ({limit + 1} in your prompt; 0 for the completion)."
        )
        assert (error["type"], error["param"], error["code"]) == (
            "invalid_request_error", None, None,
        )  # fmt: skip


async def test_an_embeddings_request_past_300000_tokens_is_refused() -> None:
    value = ["abcd" * 8000] * 38  # 304,000 tokens
    refused = await FakeResponder().respond(_embed("text-embedding-3-small", value))
    assert refused.status_code == 400
    assert refused.body["error"] == {
        "message": "Requested 304000 tokens, max 300000 tokens per request",
        "type": "max_tokens_per_request",
        "param": None,
        "code": "max_tokens_per_request",
    }
    ok = await FakeResponder().respond(_embed("text-embedding-3-small", value[:37]))
    assert ok.status_code == 200
