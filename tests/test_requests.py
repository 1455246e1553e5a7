"""Request lines and the endpoint table."""

from __future__ import annotations

import dataclasses
import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport.errors import InputError
from batchport.requests import (
    REQUIRED_BODY_FIELDS,
    Endpoint,
    Request,
    as_requests,
    required_body_fields,
)


def test_endpoints_are_the_ones_the_sdk_lists() -> None:
    from openai.types import batch_create_params

    annotation = batch_create_params.BatchCreateParams.__annotations__["endpoint"]
    # A forward reference: Required[Literal['/v1/responses', ...]]
    text = annotation if isinstance(annotation, str) else annotation.__forward_arg__
    others = {Endpoint.MESSAGES.value, Endpoint.GENERATE_CONTENT.value}
    openai_endpoints = {e.value for e in Endpoint} - others
    assert openai_endpoints == set(re.findall(r"/v1/[a-z/]+", text))
    assert len(Endpoint) == 10


def test_messages_requires_what_the_anthropic_sdk_requires() -> None:
    import typing_extensions as te
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

    hints = te.get_type_hints(MessageCreateParamsNonStreaming, include_extras=True)
    sdk_required = {name for name, hint in hints.items() if te.get_origin(hint) is te.Required}
    required = {name for (name,) in required_body_fields(Endpoint.MESSAGES)}
    assert required == sdk_required == {"model", "max_tokens", "messages"}
    assert Endpoint.from_url("/v1/messages") is Endpoint.MESSAGES
    assert Endpoint.MESSAGES.short_name == "messages"


def test_generate_content_is_one_url_with_the_model_in_the_body() -> None:
    assert Endpoint.from_url("/v1beta/generateContent") is Endpoint.GENERATE_CONTENT
    assert Endpoint.GENERATE_CONTENT.short_name == "generateContent"
    assert Endpoint.CHAT_COMPLETIONS.short_name == "chat/completions"
    assert required_body_fields(Endpoint.GENERATE_CONTENT) == (("model",), ("contents",))
    request = Request.build(
        "g1", Endpoint.GENERATE_CONTENT, {"model": "gemini-2.5-flash", "contents": []}
    )
    assert request.url == "/v1beta/generateContent"
    assert request.model == "gemini-2.5-flash"
    assert request.endpoint is Endpoint.GENERATE_CONTENT


def test_every_endpoint_has_required_fields() -> None:
    assert set(REQUIRED_BODY_FIELDS) == set(Endpoint)
    assert required_body_fields(Endpoint.CHAT_COMPLETIONS) == (("model",), ("messages",))
    assert ("input", "prompt") in required_body_fields(Endpoint.RESPONSES)


@pytest.mark.parametrize(
    ("url", "unversioned", "expected"),
    [
        ("/v1/chat/completions", False, Endpoint.CHAT_COMPLETIONS),
        ("/chat/completions", False, None),
        ("/chat/completions", True, Endpoint.CHAT_COMPLETIONS),
        ("/v1/responses", True, Endpoint.RESPONSES),
        ("/v1/chat", True, None),
        (None, True, None),
        (42, False, None),
    ],
)
def test_from_url(url: object, unversioned: bool, expected: Endpoint | None) -> None:
    assert Endpoint.from_url(url, allow_unversioned=unversioned) is expected


def test_request_is_frozen_and_slotted() -> None:
    req = Request(custom_id="a", url="/v1/embeddings", body={"model": "m", "input": "x"})
    assert req.method == "POST"
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.custom_id = "b"  # type: ignore[misc]
    assert not hasattr(req, "__dict__")
    assert [f.name for f in dataclasses.fields(Request)] == ["custom_id", "method", "url", "body"]


def test_to_json_is_the_wire_line_in_order() -> None:
    req = Request.build("id-1", Endpoint.CHAT_COMPLETIONS, {"model": "m", "messages": []})
    line = req.to_json()
    assert line == (
        b'{"custom_id":"id-1","method":"POST","url":"/v1/chat/completions",'
        b'"body":{"model":"m","messages":[]}}'
    )
    assert req.endpoint is Endpoint.CHAT_COMPLETIONS
    assert req.model == "m"


def test_to_json_refuses_unserializable_body_with_custom_id() -> None:
    req = Request(custom_id="bad", url="/v1/responses", body={"input": object()})
    with pytest.raises(InputError, match="'bad'"):
        req.to_json()


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (b"{not json", "invalid_json_line"),
        (b"[1, 2]", "invalid_request"),
        (b'{"custom_id": "a", "url": "/v1/responses", "body": {}}', "missing_required_parameter"),
        (b'{"custom_id": 3, "method": "POST", "url": "/v1/x", "body": {}}', "invalid_request"),
        (b'{"custom_id": "a", "method": "POST", "url": 1, "body": {}}', "invalid_request"),
        (b'{"custom_id": "a", "method": "POST", "url": "/v1/x", "body": []}', "invalid_request"),
    ],
)
def test_from_json_errors_name_path_line_rule(raw: bytes, rule: str) -> None:
    with pytest.raises(InputError) as info:
        Request.from_json(raw, path="f.jsonl", line=7)
    assert info.value.rule == rule
    assert info.value.line == 7
    assert str(info.value).startswith("f.jsonl:7: ")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    custom_id=st.text(min_size=1),
    endpoint=st.sampled_from(list(Endpoint)),
    body=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_json_round_trip(custom_id: str, endpoint: Endpoint, body: dict[str, object]) -> None:
    req = Request.build(custom_id, endpoint, body)
    line = req.to_json()
    assert b"\n" not in line  # one line, whatever the text holds
    assert Request.from_json(line) == req
    assert orjson.loads(line)["body"] == body


def _from_dict_reference(data: object) -> Request:
    """from_dict's rules written plainly, building through the dataclass's __init__."""
    if not isinstance(data, dict):
        raise InputError(
            f"expected a JSON object, got {type(data).__name__}", rule="invalid_request"
        )
    for key in ("custom_id", "method", "url", "body"):
        if key not in data:
            raise InputError(
                f"Missing required parameter: {key!r}.", rule="missing_required_parameter"
            )
    custom_id, method, url, body = data["custom_id"], data["method"], data["url"], data["body"]
    if not isinstance(custom_id, str) or not custom_id:
        raise InputError("custom_id must be a non-empty string", rule="invalid_request")
    if not isinstance(method, str) or not isinstance(url, str):
        raise InputError("method and url must be strings", rule="invalid_request")
    if not isinstance(body, dict):
        raise InputError("body must be a JSON object", rule="invalid_request")
    return Request(custom_id=custom_id, method=method, url=url, body=body)


line_objects = st.fixed_dictionaries(
    {},
    optional={
        "custom_id": st.sampled_from(["a", ""]) | json_values,
        "method": st.sampled_from(["POST", "GET"]) | json_values,
        "url": st.sampled_from(["/v1/chat/completions", "/v1/x"]) | json_values,
        "body": st.dictionaries(st.text(max_size=4), json_values, max_size=3) | json_values,
        "extra": json_values,
    },
)


@given(line_objects | json_values)
def test_from_dict_is_the_dataclass_init_with_checks(data: object) -> None:
    try:
        expected = _from_dict_reference(data)
    except InputError as exc:
        refused: InputError | None = exc
    else:
        refused = None
    if refused is not None:
        with pytest.raises(InputError) as info:
            Request.from_dict(data, path="f.jsonl", line=3)
        assert (info.value.rule, info.value.line) == (refused.rule, 3)
        assert str(info.value) == f"f.jsonl:3: {refused}"
        return
    got = Request.from_dict(data)
    assert type(got) is Request
    assert got == expected
    assert got.body is expected.body
    for f in dataclasses.fields(Request):  # every field set, none left to its default
        assert getattr(got, f.name) is getattr(expected, f.name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.url = "/v1/embeddings"  # type: ignore[misc]


def test_from_dict_builds_a_subclass_through_its_init() -> None:
    seen: list[str] = []

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Traced(Request):
        def __post_init__(self) -> None:
            seen.append(self.custom_id)

    got = Traced.from_dict({"custom_id": "a", "method": "POST", "url": "/v1/x", "body": {}})
    assert type(got) is Traced
    assert seen == ["a"]


@given(st.lists(line_objects | json_values, max_size=6))
def test_as_requests_reads_each_item_or_names_the_first_it_cannot(items: list[object]) -> None:
    """Every item that is a request line becomes the request ``from_dict`` makes, in
    order; the first that is not stops the reading with an error at its position."""
    read: list[Request] = []
    error: InputError | None = None
    try:
        for req in as_requests(items, "<mine>"):
            read.append(req)
    except InputError as exc:
        error = exc
    bad = len(read) + 1
    if error is not None:
        assert error.line == bad and error.path == "<mine>" and error.rule is not None
        assert str(error).startswith(f"<mine>:{bad}: ")
    else:
        assert bad == len(items) + 1
    assert len(read) == bad - 1
    for item, req in zip(items, read, strict=False):
        assert isinstance(item, dict) and req == Request.from_dict(item)


def test_as_requests_keeps_requests_as_they_are() -> None:
    req = Request(custom_id="a", url="/v1/chat/completions", body={"model": "m"})
    assert next(as_requests([req])) is req
