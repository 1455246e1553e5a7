"""Properties of to_messages over generated chat and responses requests.

- no user text is lost, and texts keep their order;
- turns alternate, start with a user turn and end with one;
- every key is one the ``anthropic`` SDK's param TypedDicts name (plus ``temperature`` and
  ``top_p``, which the API still reads but SDK 1.0 stopped typing), required keys present;
- whatever the body, the only exception is InputError.
"""

from __future__ import annotations

import itertools
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
from batchport.errors import InputError
from batchport.requests import Request

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


def attempt(request: Request) -> Request | InputError:
    """The translation, or the InputError it raised (any other exception escapes)."""
    try:
        return to_messages(request, MODELS)
    except InputError as exc:
        return exc


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

text = st.text(max_size=12)
image_url = st.sampled_from(
    ["data:image/png;base64,iVBORw0KGgo=", "data:image/webp;base64,UklGR", "https://e.com/a.gif"]
)
chat_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, text),
    st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, image_url),
)
chat_content = st.one_of(text, st.lists(chat_part, max_size=3))
system_message = st.builds(
    lambda role, content: {"role": role, "content": content},
    st.sampled_from(["system", "developer"]),
    st.one_of(text, st.lists(st.builds(lambda t: {"type": "text", "text": t}, text), max_size=2)),
)
turn = st.builds(
    lambda role, content: {"role": role, "content": content},
    st.sampled_from(["user", "assistant"]),
    chat_content,
)
last_user = st.builds(lambda t: {"role": "user", "content": t}, st.text(min_size=1, max_size=12))
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


@st.composite
def chat_requests(draw: st.DrawFn) -> Request:
    messages = [
        *draw(st.lists(system_message, max_size=2)),
        *draw(st.lists(turn, max_size=6)),
        draw(last_user),
    ]
    body = {"model": "gpt-4o-mini", "messages": messages, **draw(sampling)}
    return Request(custom_id="r1", url="/v1/chat/completions", body=body)


def _user_texts(messages: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for m in messages:
        if m["role"] != "user":
            continue
        content = m["content"]
        parts = [content] if isinstance(content, str) else [p.get("text") for p in content]
        out.extend(t for t in parts if t)
    return out


@settings(max_examples=300)
@given(request=chat_requests())
def test_chat_translation_keeps_texts_and_alternates(request: Request) -> None:
    out = attempt(request)
    if isinstance(out, InputError):
        # the only refusal such a body can meet: a conversation opening with an assistant
        # turn once empty turns are dropped
        assert "starts with an assistant turn" in out.message
        return
    params = out.body
    check_params(params)
    roles = [m["role"] for m in params["messages"]]
    assert roles[0] == "user" and roles[-1] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))
    assert texts_of(params, "user") == _user_texts(request.body["messages"])
    assert params["model"] == "claude-haiku-4-5"


input_part = st.one_of(
    st.builds(lambda t: {"type": "input_text", "text": t}, text),
    st.builds(lambda u: {"type": "input_image", "image_url": u, "detail": "auto"}, image_url),
)
item = st.one_of(
    st.builds(lambda t: {"role": "user", "content": t}, text),
    st.builds(lambda p: {"type": "message", "role": "user", "content": p}, st.lists(input_part)),
    st.builds(lambda t: {"role": "assistant", "content": t}, text),
    st.builds(
        lambda c: {"type": "function_call", "call_id": c, "name": "f", "arguments": "{}"},
        st.sampled_from(["c1", "c2"]),
    ),
    st.builds(
        lambda c, o: {"type": "function_call_output", "call_id": c, "output": o},
        st.sampled_from(["c1", "c2"]),
        text,
    ),
)


@settings(max_examples=300)
@given(
    items=st.lists(item, max_size=6),
    last=st.text(min_size=1, max_size=8),
    instructions=st.none() | text,
)
def test_responses_translation_shape(
    items: list[dict[str, Any]], last: str, instructions: str | None
) -> None:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "input": [*items, last_item(last)]}
    if instructions is not None:
        body["instructions"] = instructions
    request = Request(custom_id="r1", url="/v1/responses", body=body)
    out = attempt(request)
    if isinstance(out, InputError):
        assert "starts with an assistant turn" in out.message
        return
    params = out.body
    check_params(params)
    roles = [m["role"] for m in params["messages"]]
    assert roles[0] == "user" and roles[-1] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))
    assert last in texts_of(params, "user")[-1:]
    if instructions:
        assert params["system"] == instructions


def last_item(t: str) -> dict[str, Any]:
    return {"role": "user", "content": t}


# -- any body at all ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
KEYS = [
    "model", "messages", "input", "instructions", "max_tokens", "max_completion_tokens",
    "max_output_tokens", "temperature", "top_p", "stop", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "text", "user", "safety_identifier", "n",
    "seed", "metadata", "store", "service_tier", "logprobs", "reasoning", "truncation",
]  # fmt: skip
message_like = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "x"])},
    optional={
        "content": json_values,
        "tool_calls": json_values,
        "tool_call_id": json_values,
        "name": json_values,
        "type": st.sampled_from(["message", "function_call", "function_call_output", "x"]),
    },
)
bodies = st.dictionaries(
    st.sampled_from(KEYS),
    st.one_of(json_values, st.lists(message_like, max_size=4)),
    max_size=8,
)


@settings(max_examples=500)
@given(
    url=st.sampled_from(
        ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/embeddings"]
    ),
    body=bodies,
)
def test_any_body_gives_params_or_an_input_error(url: str, body: dict[str, Any]) -> None:
    request = Request(custom_id="r1", url=url, body=body)
    out = attempt(request)
    if isinstance(out, InputError):
        assert out.rule in {"untranslatable_feature", "unmapped_model", "invalid_request"}
        assert "'r1'" in out.message
        return
    assert out.url == "/v1/messages"
    if url != "/v1/messages":
        check_params(out.body)
