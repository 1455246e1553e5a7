"""Properties of to_generate_content over generated chat and responses requests.

- no user text is lost, and texts keep their order;
- turns alternate between ``user`` and ``model``, start with a user turn and end with one;
- every piece validates as the ``google-genai`` SDK's type for it (``Content``, ``Part``,
  ``GenerationConfig``, ``Tool``, ``ToolConfig``; their pydantic models forbid unknown
  keys and read the wire's camelCase), and the body has only request keys;
- whatever the body, the only exception is InputError.
"""

from __future__ import annotations

import itertools
from typing import Any

from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from batchport.backends.gemini.translate import MAX_STOP_SEQUENCES, to_generate_content
from batchport.errors import InputError
from batchport.requests import Request

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


def attempt(request: Request) -> Request | InputError:
    """The translation, or the InputError it raised (any other exception escapes)."""
    try:
        return to_generate_content(request, MODELS)
    except InputError as exc:
        return exc


def texts_of(body: dict[str, Any], role: str) -> list[str]:
    return [
        part["text"]
        for content in body["contents"]
        if content["role"] == role
        for part in content["parts"]
        if "text" in part
    ]


def check_turns(body: dict[str, Any]) -> None:
    roles = [content["role"] for content in body["contents"]]
    assert roles[0] == "user" and roles[-1] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))


# -- generated conversations ----------------------------------------------------------

text = st.text(max_size=12)
image_url = st.sampled_from(
    [
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/webp;base64,UklGRg==",
        "data:image/jpeg;base64,/9j/4A==",
    ]
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
    body = out.body
    check_body(body)
    check_turns(body)
    assert texts_of(body, "user") == _user_texts(request.body["messages"])
    assert body["model"] == "gemini-2.5-flash"


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
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "input": [*items, {"role": "user", "content": last}],
    }
    if instructions is not None:
        body["instructions"] = instructions
    out = attempt(Request(custom_id="r1", url="/v1/responses", body=body))
    if isinstance(out, InputError):
        # an assistant turn first, or an output for a call not made before it
        assert (
            "starts with an assistant turn" in out.message or "no earlier tool call" in out.message
        )
        return
    params = out.body
    check_body(params)
    check_turns(params)
    assert last in texts_of(params, "user")[-1:]
    if instructions:
        assert params["systemInstruction"]["parts"][0] == {"text": instructions}


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
    "seed", "metadata", "store", "service_tier", "logprobs", "top_logprobs", "reasoning",
    "truncation", "presence_penalty", "frequency_penalty", "contents",
]  # fmt: skip
message_like = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "x"])},
    optional={
        "content": json_values,
        "tool_calls": json_values,
        "tool_call_id": json_values,
        "call_id": json_values,
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
        ["/v1/chat/completions", "/v1/responses", "/v1beta/generateContent", "/v1/embeddings"]
    ),
    body=bodies,
)
def test_any_body_gives_a_request_or_an_input_error(url: str, body: dict[str, Any]) -> None:
    out = attempt(Request(custom_id="r1", url=url, body=body))
    if isinstance(out, InputError):
        assert out.rule in {"untranslatable_feature", "unmapped_model", "invalid_request"}
        assert "'r1'" in out.message
        return
    assert out.url == "/v1beta/generateContent"
    if url != "/v1beta/generateContent":
        check_body(out.body)
