"""Requests and generators shared by the Anthropic and Gemini translation suites.

What differs between the two providers (the images they take, the sampling values they
accept, the keys they know) is a parameter; the assertions stay in each suite.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

from batchport.errors import InputError
from batchport.requests import Request

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
USER = {"role": "user", "content": "hi"}


def chat(**body: Any) -> Request:
    return Request(
        custom_id="r1", url=CHAT, body={"model": "gpt-4o-mini", "messages": [USER], **body}
    )


def responses(**body: Any) -> Request:
    return Request(custom_id="r1", url=RESPONSES, body={"model": "gpt-4o-mini", **body})


def attempt(translate: Callable[[Request], Request], request: Request) -> Request | InputError:
    """The translation, or the InputError it raised (any other exception escapes)."""
    try:
        return translate(request)
    except InputError as exc:
        return exc


def translated(
    translate: Callable[[Request], Request], request: Request, *refusals: str
) -> dict[str, Any] | None:
    """The translated body, or None when the translation was refused with a message
    naming one of ``refusals`` (any other refusal fails the test)."""
    out = attempt(translate, request)
    if isinstance(out, InputError):
        assert any(reason in out.message for reason in refusals), out.message
        return None
    return out.body


def check_alternating(roles: Sequence[str]) -> None:
    """Turns start and end with a user turn, and no role follows itself."""
    assert roles[0] == "user" and roles[-1] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))


# -- generated conversations ----------------------------------------------------------

text = st.text(max_size=12)
text_part = st.builds(lambda t: {"type": "text", "text": t}, text)
system_message = st.builds(
    lambda role, content: {"role": role, "content": content},
    st.sampled_from(["system", "developer"]),
    st.one_of(text, st.lists(text_part, max_size=2)),
)
last_user = st.builds(lambda t: {"role": "user", "content": t}, st.text(min_size=1, max_size=12))


def chat_requests(
    image_url: st.SearchStrategy[str], sampling: st.SearchStrategy[dict[str, Any]]
) -> st.SearchStrategy[Request]:
    """Chat requests: system messages, user and assistant turns (text and image parts),
    a last user turn, and ``sampling``'s parameters."""
    image_part = st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, image_url)
    content = st.one_of(text, st.lists(st.one_of(text_part, image_part), max_size=3))
    turn = st.builds(
        lambda role, content: {"role": role, "content": content},
        st.sampled_from(["user", "assistant"]),
        content,
    )

    @st.composite
    def requests(draw: st.DrawFn) -> Request:
        messages = [
            *draw(st.lists(system_message, max_size=2)),
            *draw(st.lists(turn, max_size=6)),
            draw(last_user),
        ]
        body = {"model": "gpt-4o-mini", "messages": messages, **draw(sampling)}
        return Request(custom_id="r1", url=CHAT, body=body)

    return requests()


def user_texts(messages: list[dict[str, Any]]) -> list[str]:
    """The non-empty texts of the user messages, in order."""
    out: list[str] = []
    for m in messages:
        if m["role"] != "user":
            continue
        content = m["content"]
        parts = [content] if isinstance(content, str) else [p.get("text") for p in content]
        out.extend(t for t in parts if t)
    return out


def responses_items(image_url: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Responses input items: messages, function calls and their outputs."""
    input_part = st.one_of(
        st.builds(lambda t: {"type": "input_text", "text": t}, text),
        st.builds(lambda u: {"type": "input_image", "image_url": u, "detail": "auto"}, image_url),
    )
    return st.one_of(
        st.builds(lambda t: {"role": "user", "content": t}, text),
        st.builds(
            lambda p: {"type": "message", "role": "user", "content": p}, st.lists(input_part)
        ),
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


def responses_requests(image_url: st.SearchStrategy[str]) -> st.SearchStrategy[Request]:
    """Responses requests: up to 6 items, a last user message with some text, and
    ``instructions`` or none."""

    def request(items: list[dict[str, Any]], last: str, instructions: str | None) -> Request:
        body: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "input": [*items, {"role": "user", "content": last}],
        }
        if instructions is not None:
            body["instructions"] = instructions
        return Request(custom_id="r1", url=RESPONSES, body=body)

    return st.builds(
        request,
        st.lists(responses_items(image_url), max_size=6),
        st.text(min_size=1, max_size=8),
        st.none() | text,
    )


# -- any body at all ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)


def bodies(keys: Sequence[str], message_keys: Sequence[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies of any values under ``keys``, message-like lists among them (a role, and any
    values under ``message_keys`` and ``type``)."""
    message_like = st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "x"])},
        optional={
            **dict.fromkeys(message_keys, json_values),
            "type": st.sampled_from(["message", "function_call", "function_call_output", "x"]),
        },
    )
    return st.dictionaries(
        st.sampled_from(list(keys)),
        st.one_of(json_values, st.lists(message_like, max_size=4)),
        max_size=8,
    )


def urls(own: str) -> st.SearchStrategy[str]:
    return st.sampled_from([CHAT, RESPONSES, own, "/v1/embeddings"])


def check_any_body(
    translate: Callable[[Request], Request],
    url: str,
    body: dict[str, Any],
    own: str,
    check: Callable[[dict[str, Any]], None],
) -> None:
    """Whatever the body, a request for ``own`` (``check``-ed when translated) or an
    InputError naming the custom_id."""
    out = attempt(translate, Request(custom_id="r1", url=url, body=body))
    if isinstance(out, InputError):
        assert out.rule in {"untranslatable_feature", "unmapped_model", "invalid_request"}
        assert "'r1'" in out.message
        return
    assert out.url == own
    if url != own:
        check(out.body)
