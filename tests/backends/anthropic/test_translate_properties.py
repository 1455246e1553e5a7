"""Properties of to_messages over generated chat and responses requests.

- no user text is lost, and texts keep their order;
- turns alternate, start with a user turn and end with one;
- every key is one the ``anthropic`` SDK's param TypedDicts name (plus ``temperature`` and
  ``top_p``, which the API still reads but SDK 1.0 stopped typing), required keys present;
- whatever the body, the only exception is InputError.
"""

from __future__ import annotations

from typing import Any

import typing_extensions as te
from anthropic.types import (
    AssistantMessageParam,
    ImageBlockParam,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    UserMessageParam,
)
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from hypothesis import given, settings
from hypothesis import strategies as st

from batchport.backends.anthropic.translate import to_messages
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

MODELS = {"gpt-4o-mini": "claude-haiku-4-5"}
_UNTYPED_SAMPLING = frozenset({"temperature", "top_p"})


def _keys(typed: Any) -> tuple[frozenset[str], frozenset[str]]:
    hints = te.get_type_hints(typed, include_extras=True)
    required = {k for k, v in hints.items() if te.get_origin(v) is te.Required}
    return frozenset(hints), frozenset(required)


BLOCKS = {
    "text": _keys(TextBlockParam),
    "image": _keys(ImageBlockParam),
    "tool_use": _keys(ToolUseBlockParam),
    "tool_result": _keys(ToolResultBlockParam),
}
PARAMS = _keys(MessageCreateParamsNonStreaming)
USER_MESSAGE = _keys(UserMessageParam)
ASSISTANT_MESSAGE = _keys(AssistantMessageParam)
TOOL = _keys(ToolParam)


def _fits(value: dict[str, Any], keys: tuple[frozenset[str], frozenset[str]]) -> None:
    allowed, required = keys
    assert set(value) <= allowed, set(value) - allowed
    assert required <= set(value), required - set(value)


def check_params(params: dict[str, Any]) -> None:
    """``params`` has the shape of ``MessageCreateParamsNonStreaming``, key by key."""
    allowed, required = PARAMS
    assert set(params) <= allowed | _UNTYPED_SAMPLING, set(params) - allowed
    assert required <= set(params)
    system = params.get("system")
    if system is not None and not isinstance(system, str):
        for block in system:
            assert block["type"] == "text"
            _fits(block, BLOCKS["text"])
    for message in params["messages"]:
        assert message["role"] in ("user", "assistant")
        _fits(message, USER_MESSAGE if message["role"] == "user" else ASSISTANT_MESSAGE)
        content = message["content"]
        if isinstance(content, str):
            assert content
            continue
        assert content
        for block in content:
            _fits(block, BLOCKS[block["type"]])
            if block["type"] == "text":
                assert block["text"]
    for tool in params.get("tools", ()):
        _fits(tool, TOOL)
        assert tool["input_schema"]["type"] == "object"


def translate(request: Request) -> Request:
    return to_messages(request, MODELS)


def texts_of(params: dict[str, Any], role: str) -> list[str]:
    out: list[str] = []
    for message in params["messages"]:
        if message["role"] != role:
            continue
        content = message["content"]
        if isinstance(content, str):
            out.append(content)
        else:
            out.extend(b["text"] for b in content if b["type"] == "text")
    return out


# -- generated conversations ----------------------------------------------------------

image_url = st.sampled_from(
    ["data:image/png;base64,iVBORw0KGgo=", "data:image/webp;base64,UklGR", "https://e.com/a.gif"]
)
sampling = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 1),
        "max_tokens": st.integers(1, 10_000),
        "stop": st.one_of(text, st.lists(text, max_size=3)),
        "user": st.text(min_size=1, max_size=8),
        "n": st.just(1),
        "seed": st.none(),
    },
)


@settings(max_examples=300)
@given(request=chat_requests(image_url, sampling))
def test_chat_translation_keeps_texts_and_alternates(request: Request) -> None:
    # the only refusal such a body can meet: a conversation opening with an assistant
    # turn once empty turns are dropped
    params = translated(translate, request, "starts with an assistant turn")
    if params is None:
        return
    check_params(params)
    check_alternating([m["role"] for m in params["messages"]])
    assert texts_of(params, "user") == user_texts(request.body["messages"])
    assert params["model"] == "claude-haiku-4-5"


@settings(max_examples=300)
@given(request=responses_requests(image_url))
def test_responses_translation_shape(request: Request) -> None:
    last = request.body["input"][-1]["content"]
    instructions = request.body.get("instructions")
    params = translated(translate, request, "starts with an assistant turn")
    if params is None:
        return
    check_params(params)
    check_alternating([m["role"] for m in params["messages"]])
    assert last in texts_of(params, "user")[-1:]
    if instructions:
        assert params["system"] == instructions


# -- any body at all ------------------------------------------------------------------

KEYS = [
    "model", "messages", "input", "instructions", "max_tokens", "max_completion_tokens",
    "max_output_tokens", "temperature", "top_p", "stop", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "text", "user", "safety_identifier", "n",
    "seed", "metadata", "store", "service_tier", "logprobs", "reasoning", "truncation",
]  # fmt: skip
MESSAGE_KEYS = ["content", "tool_calls", "tool_call_id", "name"]


@settings(max_examples=500)
@given(url=urls("/v1/messages"), body=bodies(KEYS, MESSAGE_KEYS))
def test_any_body_gives_params_or_an_input_error(url: str, body: dict[str, Any]) -> None:
    check_any_body(translate, url, body, "/v1/messages", check_params)
