"""Token estimates: the heuristic, and the tiktoken path when it can load."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchport import tokens
from batchport.requests import Endpoint


@pytest.fixture(autouse=True)
def _fresh_decision() -> Iterator[None]:
    tokens.reset_tokenizer()
    yield
    tokens.reset_tokenizer()


@pytest.fixture
def no_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import fails


def _fake_tiktoken(monkeypatch: pytest.MonkeyPatch, *, fail: bool) -> list[str]:
    calls: list[str] = []

    class Encoding:
        def encode(self, text: str, disallowed_special: object = ()) -> list[int]:
            return [0] * len(text.split())  # one token per word

    def get_encoding(name: str) -> Encoding:
        calls.append(name)
        if fail:
            raise OSError("could not download encoding (offline)")
        return Encoding()

    module = types.ModuleType("tiktoken")
    module.get_encoding = get_encoding  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", module)
    return calls


def test_heuristic_ascii_is_four_chars_a_token(no_tiktoken: None) -> None:
    assert tokens.tokenizer_name() == "heuristic"
    assert tokens.count_text_tokens("") == 0
    assert tokens.count_text_tokens("abcd") == 1
    assert tokens.count_text_tokens("abcde") == 2
    assert tokens.count_text_tokens("x" * 400) == 100


def test_heuristic_errs_high_on_non_ascii(no_tiktoken: None) -> None:
    japanese = "画面がとても綺麗"  # 8 chars, 24 UTF-8 bytes
    assert tokens.count_text_tokens(japanese) == 8
    assert tokens.count_text_tokens(japanese) > len(japanese) // 4


def test_tiktoken_used_when_encoding_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_tiktoken(monkeypatch, fail=False)
    assert tokens.tokenizer_name() == "tiktoken:o200k_base"
    assert tokens.count_text_tokens("one two three") == 3
    assert calls == ["o200k_base"]


def test_failed_download_falls_back_once_and_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_tiktoken(monkeypatch, fail=True)
    assert tokens.count_text_tokens("one two three") == 4  # 13 chars / 4, rounded up
    assert tokens.count_text_tokens("again") == 2
    assert tokens.tokenizer_name() == "heuristic"
    assert calls == ["o200k_base"]  # tried exactly once


def test_chat_messages_have_overhead(no_tiktoken: None) -> None:
    one = {"messages": [{"role": "user", "content": "abcd"}]}
    two = {"messages": [{"role": "system", "content": "abcd"}, {"role": "user", "content": "abcd"}]}
    base = tokens.estimate_input_tokens(one, Endpoint.CHAT_COMPLETIONS)
    assert base == tokens.REPLY_PRIMER_TOKENS + tokens.MESSAGE_OVERHEAD_TOKENS + 1
    assert tokens.estimate_input_tokens(two, "/v1/chat/completions") == base + 4


def test_images_cost_fixed_tokens_not_their_base64(no_tiktoken: None) -> None:
    data = "data:image/png;base64," + "A" * 100_000

    def body(detail: str) -> dict[str, object]:
        part = {"type": "image_url", "image_url": {"url": data, "detail": detail}}
        return {"messages": [{"role": "user", "content": [{"type": "text", "text": "abcd"}, part]}]}

    high = tokens.estimate_input_tokens(body("high"), Endpoint.CHAT_COMPLETIONS)
    low = tokens.estimate_input_tokens(body("low"), Endpoint.CHAT_COMPLETIONS)
    assert high - low == tokens.IMAGE_TOKENS_HIGH - tokens.IMAGE_TOKENS_LOW
    assert high < 1_000


def test_responses_input_parts_and_instructions(no_tiktoken: None) -> None:
    body = {
        "instructions": "abcdabcd",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "abcd" * 10},
                    {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
                ],
            }
        ],
    }
    got = tokens.estimate_input_tokens(body, Endpoint.RESPONSES)
    assert got == 2 + 10 + tokens.IMAGE_TOKENS_LOW + tokens.MESSAGE_OVERHEAD_TOKENS


def test_structured_output_schema_counts(no_tiktoken: None) -> None:
    plain = {"input": "hello"}
    with_schema = {
        "input": "hello",
        "text": {"format": {"type": "json_schema", "schema": {"a": 1}}},
    }
    assert tokens.estimate_input_tokens(
        with_schema, Endpoint.RESPONSES
    ) > tokens.estimate_input_tokens(plain, Endpoint.RESPONSES)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("abcdabcd", 2), (["abcd", "abcd"], 2), ([1, 2, 3], 3), ([[1, 2], [3]], 3)],
)
def test_embedding_inputs(no_tiktoken: None, value: object, expected: int) -> None:
    assert tokens.estimate_input_tokens({"input": value}, Endpoint.EMBEDDINGS) == expected


def test_odd_and_hostile_bodies_never_raise(no_tiktoken: None) -> None:
    deep: object = "abcd"
    for _ in range(5_000):
        deep = [deep]
    for endpoint in [*Endpoint, None, "/v1/unknown"]:
        assert (
            tokens.estimate_input_tokens({"input": deep, "messages": deep, "prompt": 3}, endpoint)
            >= 0
        )
        assert tokens.estimate_input_tokens({"tools": deep, "text": deep}, endpoint) >= 0


@pytest.mark.parametrize(
    ("body", "endpoint", "expected"),
    [
        ({"max_tokens": 50}, Endpoint.CHAT_COMPLETIONS, 50),
        ({"max_completion_tokens": 70, "max_tokens": 50}, Endpoint.CHAT_COMPLETIONS, 70),
        ({"max_output_tokens": 20}, Endpoint.RESPONSES, 20),
        ({"max_tokens": 10, "n": 3}, Endpoint.CHAT_COMPLETIONS, 30),
        ({}, Endpoint.RESPONSES, tokens.DEFAULT_OUTPUT_TOKENS),
        ({"max_tokens": True}, None, tokens.DEFAULT_OUTPUT_TOKENS),
        ({"max_tokens": 99}, Endpoint.EMBEDDINGS, 0),
        ({}, Endpoint.MODERATIONS, 0),
    ],
)
def test_output_budget(body: dict[str, object], endpoint: Endpoint | None, expected: int) -> None:
    assert tokens.estimate_output_tokens(body, endpoint) == expected


def test_lone_surrogates_do_not_raise(no_tiktoken: None) -> None:
    assert tokens.count_text_tokens("\ud800abc") == 2  # 6 UTF-8 bytes / 3


def test_messages_count_like_chat_plus_system(no_tiktoken: None) -> None:
    messages = [{"role": "user", "content": "abcd" * 10}]
    chat = tokens.estimate_input_tokens({"messages": messages}, Endpoint.CHAT_COMPLETIONS)
    body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": messages}
    assert tokens.estimate_input_tokens(body, Endpoint.MESSAGES) == chat
    with_system = {**body, "system": "abcd" * 5}
    assert tokens.estimate_input_tokens(with_system, "/v1/messages") == chat + 5
    blocks = {**body, "system": [{"type": "text", "text": "abcd" * 5}]}
    assert tokens.estimate_input_tokens(blocks, Endpoint.MESSAGES) == chat + 5
    assert tokens.estimate_output_tokens(body, Endpoint.MESSAGES) == 5


def test_messages_image_blocks_cost_fixed_tokens(no_tiktoken: None) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                          "data": "A" * 100_000}}  # fmt: skip
    body = {"messages": [{"role": "user", "content": [image]}]}
    estimate = tokens.estimate_input_tokens(body, Endpoint.MESSAGES)
    assert estimate == tokens.CLAUDE_IMAGE_TOKENS + 6


def test_gemini_counts_system_contents_and_schema(no_tiktoken: None) -> None:
    body = {
        "model": "gemini-2.5-flash",
        "systemInstruction": {"parts": [{"text": "abcd" * 5}]},
        "contents": [
            {"role": "user", "parts": [{"text": "abcd" * 10}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
        ],
        "generationConfig": {"responseJsonSchema": {"type": "object"}},
    }
    call_json = tokens._json_tokens(body["contents"][1]["parts"][0])  # type: ignore[index]
    schema_json = tokens._json_tokens({"type": "object"})
    expected = tokens.REPLY_PRIMER_TOKENS + 5 + 2 * tokens.MESSAGE_OVERHEAD_TOKENS + 10
    assert tokens.estimate_input_tokens(body, Endpoint.GENERATE_CONTENT) == (
        expected + call_json + schema_json
    )


def test_gemini_media_parts_cost_fixed_tokens_not_their_base64(no_tiktoken: None) -> None:
    image = {"inlineData": {"mimeType": "image/png", "data": "A" * 100_000}}
    pdf = {"fileData": {"mimeType": "application/pdf", "fileUri": "files/x"}}
    body = {"model": "gemini-2.5-flash", "contents": [{"role": "user", "parts": [image, pdf]}]}
    assert tokens.estimate_input_tokens(body, "/v1beta/generateContent") == (
        tokens.REPLY_PRIMER_TOKENS
        + tokens.MESSAGE_OVERHEAD_TOKENS
        + tokens.GEMINI_IMAGE_TOKENS
        + tokens.FILE_PART_TOKENS
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"contents": []}, tokens.DEFAULT_OUTPUT_TOKENS),
        ({"generationConfig": {"maxOutputTokens": 50}}, 50),
        ({"generationConfig": {"maxOutputTokens": 50, "candidateCount": 3}}, 150),
        ({"generationConfig": "odd", "max_tokens": 9}, tokens.DEFAULT_OUTPUT_TOKENS),
    ],
)
def test_gemini_output_budget(body: dict[str, object], expected: int) -> None:
    assert tokens.estimate_output_tokens(body, Endpoint.GENERATE_CONTENT) == expected


def test_gemini_odd_bodies_never_raise(no_tiktoken: None) -> None:
    for body in (
        {"contents": "x", "systemInstruction": 3},
        {"contents": [None, {"parts": "x"}, {"parts": [None, {"inlineData": 1}]}]},
        {"generationConfig": {"responseSchema": {1, 2}}},
    ):
        assert tokens.estimate_input_tokens(body, Endpoint.GENERATE_CONTENT) >= 0


_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.text(max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["role", "content", "type", "text", "image_url", "detail", "x"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=12,
)
_numbers = st.one_of(st.integers(-2, 5000), st.booleans(), st.none(), st.text(max_size=2))
_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": _values,
        "messages": st.one_of(
            _values,
            st.lists(
                st.fixed_dictionaries({"role": st.just("user"), "content": _values}), max_size=3
            ),
        ),
        "max_tokens": _numbers,
        "max_completion_tokens": _numbers,
        "max_output_tokens": _numbers,
        "n": _numbers,
        "input": _values,
        "prompt": _values,
        "tools": _values,
        "response_format": _values,
        "system": _values,
        "contents": _values,
    },
)
_endpoints = st.one_of(
    st.just(Endpoint.CHAT_COMPLETIONS),
    st.sampled_from([*Endpoint, None, "/chat/completions", "/v1/chat/completions", "/nope"]),
)


@settings(max_examples=300)
@given(_bodies, _endpoints)
def test_estimate_tokens_is_both_estimates(body: dict[str, object], endpoint: object) -> None:
    both = tokens.estimate_tokens(body, endpoint)  # type: ignore[arg-type]
    assert both == (
        tokens.estimate_input_tokens(body, endpoint),  # type: ignore[arg-type]
        tokens.estimate_output_tokens(body, endpoint),  # type: ignore[arg-type]
    )


def test_a_part_whose_type_is_not_a_string_never_raises(no_tiktoken: None) -> None:
    for kind in ([], {}, 3):
        body = {"prompt": {"type": kind, "text": "four"}}
        assert tokens.estimate_input_tokens(body, Endpoint.COMPLETIONS) == 1
