"""The official SDK (strict response validation) consumes fake answers through
its own parse helpers, wired to the responder by an in-memory transport."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Literal

import httpx2
import openai
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport_emulator.responders import (
    FakeResponder,
    RespondRequest,
    estimate_tokens,
    usage_tokens,
)
from batchport_emulator.responders.rows import cut_text


class Review(pydantic.BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    stars: int = pydantic.Field(ge=1, le=5)
    summary: str
    tags: list[str]


def make_client(*, strict: bool = True) -> openai.OpenAI:
    responder = FakeResponder()

    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        result = responder.respond_now(RespondRequest(request.url.path, body))
        return httpx2.Response(result.status_code, json=result.body)

    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://emulator.invalid/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handle)),
        max_retries=0,
        _strict_response_validation=strict,
    )


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    sdk = make_client()
    yield sdk
    sdk.close()


def test_chat_parse_returns_the_model(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Great phone"}],
        response_format=Review,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Review)
    assert 1 <= parsed.stars <= 5


def test_chat_parse_refusal_and_cut_outputs(client: openai.OpenAI) -> None:
    def parse(text: str) -> openai.types.chat.ParsedChatCompletion[Review]:
        return client.chat.completions.parse(
            model="m", messages=[{"role": "user", "content": text}], response_format=Review
        )

    refused = parse("[[emulator:refuse]]").choices[0].message
    assert refused.parsed is None
    assert refused.refusal
    # The SDK itself raises for cut outputs; runners must catch these.
    with pytest.raises(openai.LengthFinishReasonError):
        parse("[[emulator:truncate]]")
    with pytest.raises(openai.ContentFilterFinishReasonError):
        parse("[[emulator:content_filter]]")


def test_responses_parse_returns_the_model(client: openai.OpenAI) -> None:
    response = client.responses.parse(model="gpt-4.1", input="Great phone", text_format=Review)
    assert isinstance(response.output_parsed, Review)
    assert response.usage is not None
    assert response.usage.output_tokens > 0


def test_embeddings_through_the_sdk(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], dimensions=32, encoding_format="float"
    )
    assert [len(item.embedding) for item in floats.data] == [32, 32]
    # Without encoding_format the SDK asks for base64 and decodes it after
    # parsing; strict validation rejects the base64 string before that (as it
    # would with the real API), so this path needs a non-strict client.
    with make_client(strict=False) as lenient:
        decoded = lenient.embeddings.create(
            model="text-embedding-3-small", input=["a", "b"], dimensions=32
        )
    assert [item.embedding for item in decoded.data] == [item.embedding for item in floats.data]


def test_other_endpoints_parse(client: openai.OpenAI) -> None:
    assert client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say").choices
    assert client.moderations.create(input="hello").results[0].flagged is False


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
def test_status_markers_raise_the_sdk_error(
    client: openai.OpenAI, status: int, error: type[openai.APIStatusError]
) -> None:
    with pytest.raises(error) as info:
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"[[emulator:status={status}]]"}]
        )
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict)
    assert info.value.body["message"]


# -- token helpers -----------------------------------------------------------


@given(st.text(max_size=300))
def test_estimate_tokens_bounds(text: str) -> None:
    tokens = estimate_tokens(text)
    assert (tokens == 0) == (text == "")
    assert tokens >= (len(text) + 3) // 4
    assert tokens >= (text.count(" ") + 1 if text else 0)


@given(st.text(max_size=100), st.text(max_size=100))
def test_estimate_tokens_is_roughly_additive(a: str, b: str) -> None:
    assert estimate_tokens(a + b) <= estimate_tokens(a) + estimate_tokens(b) + 1


def test_usage_tokens_reads_both_shapes() -> None:
    chat = {"usage": {"prompt_tokens": 3, "completion_tokens": 4,
                      "prompt_tokens_details": {"cached_tokens": 1},
                      "completion_tokens_details": None}}  # fmt: skip
    responses = {"usage": {"input_tokens": 5, "output_tokens": 6,
                           "input_tokens_details": {"cached_tokens": 2},
                           "output_tokens_details": {"reasoning_tokens": 3}}}  # fmt: skip
    assert usage_tokens(chat) == (3, 4, 1, 0)
    assert usage_tokens(responses) == (5, 6, 2, 3)
    assert usage_tokens({"usage": {"prompt_tokens": "x"}}) == (0, 0, 0, 0)
    assert usage_tokens({"usage": None}) is None
    assert usage_tokens({}) is None


@given(st.text(max_size=200), st.integers(0, 60))
def test_cut_text_keeps_a_prefix_within_budget(text: str, budget: int) -> None:
    cut = cut_text(text, budget)
    assert text.startswith(cut)
    assert estimate_tokens(cut) <= budget
    if estimate_tokens(text) <= budget:
        assert cut == text
