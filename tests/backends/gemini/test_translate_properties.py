"""Properties of to_generate_content over generated chat and responses requests.

- no user text is lost, and texts keep their order;
- turns alternate between ``user`` and ``model``, start with a user turn and end with one;
- every piece validates as the ``google-genai`` SDK's type for it (``Content``, ``Part``,
  ``GenerationConfig``, ``Tool``, ``ToolConfig``; their pydantic models forbid unknown
  keys and read the wire's camelCase), and the body has only request keys;
- whatever the body, the only exception is InputError.
"""

from __future__ import annotations

from typing import Any

from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from batchport.backends.gemini.translate import MAX_STOP_SEQUENCES, to_generate_content
from batchport.requests import Request

from .._translate_helpers import (
    bodies,
    chat_requests,
    check_alternating,
    check_any_body,
    responses_requests,
    text,
    translated,
    urls,
    user_texts,
)

MODELS = {"gpt-4o-mini": "gemini-2.5-flash"}
REQUEST_KEYS = frozenset({
    "model", "contents", "systemInstruction", "generationConfig", "tools", "toolConfig",
    "safetySettings", "cachedContent",
})  # fmt: skip


def check_body(body: dict[str, Any]) -> None:
    """``body`` is a GenerateContentRequest (plus model), piece by piece."""
    assert set(body) <= REQUEST_KEYS, set(body) - REQUEST_KEYS
    assert body["model"].startswith("gemini-")
    assert body["contents"]
    for content in body["contents"]:
        assert content["role"] in ("user", "model")
        assert content["parts"]
        types.Content.model_validate(content)
        for part in content["parts"]:
            assert len(part) == 1  # one kind of data per part
            if "text" in part:
                assert part["text"]
    if "systemInstruction" in body:
        assert set(body["systemInstruction"]) == {"parts"}
        types.Content.model_validate(body["systemInstruction"])
    if "generationConfig" in body:
        config = types.GenerationConfig.model_validate(body["generationConfig"])
        assert len(config.stop_sequences or ()) <= MAX_STOP_SEQUENCES
    for tool in body.get("tools", ()):
        types.Tool.model_validate(tool)
    if "toolConfig" in body:
        types.ToolConfig.model_validate(body["toolConfig"])


def translate(request: Request) -> Request:
    return to_generate_content(request, MODELS)


def texts_of(body: dict[str, Any], role: str) -> list[str]:
    return [
        part["text"]
        for content in body["contents"]
        if content["role"] == role
        for part in content["parts"]
        if "text" in part
    ]


def check_turns(body: dict[str, Any]) -> None:
    check_alternating([content["role"] for content in body["contents"]])


# -- generated conversations ----------------------------------------------------------

image_url = st.sampled_from(
    [
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/webp;base64,UklGRg==",
        "data:image/jpeg;base64,/9j/4A==",
    ]
)
FORMATS = [
    {"type": "text"},
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
]
sampling = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 10_000),
        "stop": st.one_of(text, st.lists(text, max_size=4)),
        "seed": st.integers(-(2**31), 2**31),
        "presence_penalty": st.floats(-2, 2),
        "frequency_penalty": st.floats(-2, 2),
        "logprobs": st.booleans(),
        "user": st.text(min_size=1, max_size=8),
        "n": st.just(1),
        "response_format": st.sampled_from(FORMATS),
    },
)


@settings(max_examples=300)
@given(request=chat_requests(image_url, sampling))
def test_chat_translation_keeps_texts_and_alternates(request: Request) -> None:
    # the only refusal such a body can meet: a conversation opening with an assistant
    # turn once empty turns are dropped
    body = translated(translate, request, "starts with an assistant turn")
    if body is None:
        return
    check_body(body)
    check_turns(body)
    assert texts_of(body, "user") == user_texts(request.body["messages"])
    assert body["model"] == "gemini-2.5-flash"


@settings(max_examples=300)
@given(request=responses_requests(image_url))
def test_responses_translation_shape(request: Request) -> None:
    last = request.body["input"][-1]["content"]
    instructions = request.body.get("instructions")
    # an assistant turn first, or an output for a call not made before it
    params = translated(translate, request, "starts with an assistant turn", "no earlier tool call")
    if params is None:
        return
    check_body(params)
    check_turns(params)
    assert last in texts_of(params, "user")[-1:]
    if instructions:
        assert params["systemInstruction"]["parts"][0] == {"text": instructions}


# -- any body at all ------------------------------------------------------------------

KEYS = [
    "model", "messages", "input", "instructions", "max_tokens", "max_completion_tokens",
    "max_output_tokens", "temperature", "top_p", "stop", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "text", "user", "safety_identifier", "n",
    "seed", "metadata", "store", "service_tier", "logprobs", "top_logprobs", "reasoning",
    "truncation", "presence_penalty", "frequency_penalty", "contents",
]  # fmt: skip
MESSAGE_KEYS = ["content", "tool_calls", "tool_call_id", "call_id", "name"]


@settings(max_examples=500)
@given(url=urls("/v1beta/generateContent"), body=bodies(KEYS, MESSAGE_KEYS))
def test_any_body_gives_a_request_or_an_input_error(url: str, body: dict[str, Any]) -> None:
    check_any_body(translate, url, body, "/v1beta/generateContent", check_body)
