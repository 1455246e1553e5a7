"""builder.messages.create/parse: the body the ``anthropic`` SDK would send, as a batch line."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
from collections.abc import Iterator
from typing import Any, Literal

import anthropic
import httpx2
import orjson
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typing_extensions import TypedDict

from batchport.builder import BatchBuilder
from batchport.errors import InputError
from batchport.schema import claude_json_schema, messages_output_format

MESSAGES = [{"role": "user", "content": "Great phone"}]
REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "{}"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=2, description="what it is")
    qty: int = pydantic.Field(ge=1, le=10)


class Sentiment(pydantic.BaseModel):
    label: Literal["positive", "negative", "mixed"]
    confidence: float
    items: list[Item] = pydantic.Field(min_length=1)
    color: Color | None = None
    when: datetime.date | None = None
    tags: dict[str, int] = {}
    note: str = pydantic.Field(default="", json_schema_extra={"format": "markdown"})


@pydantic.dataclasses.dataclass
class Point:
    x: int
    y: int


class Row(TypedDict):
    key: str
    values: list[float]


@dataclasses.dataclass
class Plain:
    a: str


@pytest.fixture
def sdk() -> Iterator[tuple[anthropic.Anthropic, list[dict[str, Any]]]]:
    """An ``anthropic`` client whose requests are recorded instead of sent."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(orjson.loads(request.content))
        return httpx2.Response(200, json=REPLY)

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = anthropic.Anthropic(api_key="test-key", http_client=http, max_retries=0)
    yield client, bodies
    client.close()


def test_create_is_the_sdk_body(sdk: tuple[anthropic.Anthropic, list[dict[str, Any]]]) -> None:
    client, bodies = sdk
    kwargs: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 256,
        "messages": MESSAGES,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    client.messages.create(**kwargs)
    builder = BatchBuilder()
    request = builder.messages.create(custom_id="r1", **kwargs)
    assert request.url == "/v1/messages"
    assert request.method == "POST"
    assert request.body == bodies[0]
    assert builder.output_model("r1") is None


@pytest.mark.parametrize("output_format", [Sentiment, Item, Point, Row, Plain])
def test_parse_is_the_sdk_body(
    sdk: tuple[anthropic.Anthropic, list[dict[str, Any]]], output_format: type
) -> None:
    client, bodies = sdk
    kwargs: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": MESSAGES}
    # the canned reply may not fit the type; the request was sent all the same
    with contextlib.suppress(pydantic.ValidationError, ValueError):
        client.messages.parse(output_format=output_format, **kwargs)
    builder = BatchBuilder()
    request = builder.messages.parse(custom_id="r1", output_format=output_format, **kwargs)
    assert request.body == bodies[0]
    assert builder.output_model("r1") is output_format


def test_parse_merges_other_output_config_keys(
    sdk: tuple[anthropic.Anthropic, list[dict[str, Any]]],
) -> None:
    client, bodies = sdk
    kwargs: dict[str, Any] = {
        "model": "claude-opus-4-6",
        "max_tokens": 64,
        "messages": MESSAGES,
        "output_config": {"effort": "low"},
    }
    with pytest.raises(pydantic.ValidationError):  # the canned reply is not an Item
        client.messages.parse(output_format=Item, **kwargs)
    request = BatchBuilder().messages.parse(custom_id="r1", output_format=Item, **kwargs)
    assert request.body == bodies[0]
    assert request.body["output_config"]["effort"] == "low"


def test_sdk_omit_is_dropped() -> None:
    request = BatchBuilder().messages.create(
        custom_id="r1",
        model="claude-haiku-4-5",
        max_tokens=8,
        messages=MESSAGES,
        system=anthropic.omit,
        tools=anthropic.NOT_GIVEN,
    )
    assert set(request.body) == {"model", "max_tokens", "messages"}


def test_parse_without_output_format_is_create() -> None:
    builder = BatchBuilder()
    request = builder.messages.parse(
        custom_id="r1", model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES
    )
    assert "output_config" not in request.body
    assert builder.output_model("r1") is None


@pytest.mark.parametrize(
    ("kwargs", "match", "rule"),
    [
        ({"stream": True}, "stream=True is not supported", "streaming_unsupported"),
        ({"max_tokens": None}, "missing required parameter 'max_tokens'", "invalid_request"),
        (
            {"user_profile_id": "p"},
            "user_profile_id is sent as a request header",
            "invalid_request",
        ),
        ({"workspace_id": "w"}, "workspace_id is sent as a request header", "invalid_request"),
        ({"extra_headers": {"x": "y"}}, "extra_headers cannot be carried", "invalid_request"),
    ],
)
def test_create_refusals(kwargs: dict[str, Any], match: str, rule: str) -> None:
    params: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": MESSAGES}
    params.update(kwargs)
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(InputError, match=match) as info:
        BatchBuilder().messages.create(custom_id="r1", **params)
    assert info.value.rule == rule


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"output_format": {"type": "object"}}, "output_format must be a type"),
        ({"output_format": "Item"}, "output_format must be a type"),
        ({"output_format": object}, "cannot build a JSON schema"),
        (
            {"output_format": Item, "output_config": {"format": {"type": "json_schema"}}},
            "both output_format and output_config.format",
        ),
        ({"output_format": Item, "output_config": "x"}, "output_config must be a mapping"),
    ],
)
def test_parse_refusals(kwargs: dict[str, Any], match: str) -> None:
    builder = BatchBuilder()
    with pytest.raises(InputError, match=match):
        builder.messages.parse(
            custom_id="r1", model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES, **kwargs
        )
    assert len(builder) == 0


def test_generated_ids_and_duplicates() -> None:
    builder = BatchBuilder()
    a = builder.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES)
    b = builder.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES)
    assert a.custom_id.startswith("req-")
    assert b.custom_id == a.custom_id + "-2"
    with pytest.raises(InputError, match="duplicate custom_id"):
        builder.messages.create(
            custom_id=a.custom_id, model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES
        )


def test_output_format_is_cached_and_fresh_per_request() -> None:
    assert messages_output_format(Item) is messages_output_format(Item)


# -- the schema rewrite against the SDK's own transform_schema ---------------------------

_leaf = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["integer", "number", "boolean", "null"])}),
    st.fixed_dictionaries(
        {"type": st.just("string")},
        optional={
            "format": st.sampled_from(["date", "uuid", "markdown", "email"]),
            "maxLength": st.integers(0, 9),
        },
    ),
    st.fixed_dictionaries(
        {"enum": st.lists(st.one_of(st.text(max_size=3), st.integers()), min_size=1)}
    ),
    st.fixed_dictionaries({"const": st.one_of(st.none(), st.booleans(), st.text(max_size=3))}),
    st.fixed_dictionaries(
        {"$ref": st.just("#/$defs/X")}, optional={"description": st.text(max_size=5)}
    ),
)


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    names = st.text("abc", min_size=1, max_size=3)
    return st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("object"), "properties": st.dictionaries(names, children, max_size=3)},
            optional={
                "required": st.lists(names, max_size=2),
                "additionalProperties": st.booleans(),
                "title": st.text(max_size=4),
                "minProperties": st.integers(0, 3),
            },
        ),
        st.fixed_dictionaries(
            {"type": st.just("array"), "items": children},
            optional={"minItems": st.integers(0, 3), "description": st.text(max_size=4)},
        ),
        st.fixed_dictionaries({"anyOf": st.lists(children, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"oneOf": st.lists(children, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"allOf": st.lists(children, min_size=1, max_size=2)}),
    )


schemas = st.recursive(_leaf, _extend, max_leaves=8)


@settings(max_examples=300)
@given(schema=schemas, defs=st.dictionaries(st.just("X"), schemas, max_size=1))
def test_schema_rewrite_matches_the_sdk(schema: dict[str, Any], defs: dict[str, Any]) -> None:
    if defs:
        schema = {**schema, "$defs": defs}
    try:
        expected = anthropic.transform_schema(schema)
    except (ValueError, AssertionError):
        with pytest.raises(ValueError):
            claude_json_schema(schema)
        return
    assert claude_json_schema(schema) == expected
