"""Structured outputs: fake JSON validates against the requested schema.

Property tests build random pydantic models (turned into the SDK's strict
schema, exactly as ``client.chat.completions.parse`` sends them) and random
raw JSON Schemas (checked with the ``jsonschema`` validator)."""

from __future__ import annotations

import datetime
import enum
import itertools
import json
import random
import re
import uuid
from typing import Annotated, Any, Literal, Optional, Union

import jsonschema
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.lib._parsing._completions import type_to_response_format_param

from batchport_emulator.responders import FakeResponder, ResponderConfig, RespondRequest
from batchport_emulator.responders.jsonschema_fake import SchemaFaker, compile_schema
from batchport_emulator.responders.strings import format_string, pattern_string

PATTERNS = [
    r"^[A-Z]{3}\d+$",
    r"^\d{3}-\d{4}$",
    r"^(foo|bar)_[a-z]+$",
    r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$",
    r"^#[0-9a-fA-F]{6}$",
    r"v\d+\.\d+",
    r"^(ab)+c?$",
    r"^[\w.-]{4,10}$",
]
_names = itertools.count()


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


# -- random pydantic models ----------------------------------------------------

LEAVES: list[Any] = [
    str,
    int,
    float,
    bool,
    datetime.datetime,
    datetime.date,
    uuid.UUID,
    Literal["a", "b", "c"],
    Color,
    Level,
]


def _constrained() -> st.SearchStrategy[Any]:
    bounds = st.tuples(st.integers(-1000, 1000), st.integers(0, 50))
    ints = bounds.map(lambda b: Annotated[int, pydantic.Field(ge=b[0], le=b[0] + b[1])])
    floats = bounds.map(lambda b: Annotated[float, pydantic.Field(gt=b[0], lt=b[0] + b[1] + 1)])
    lengths = st.tuples(st.integers(0, 20), st.integers(0, 20))
    strs = lengths.map(
        lambda b: Annotated[str, pydantic.Field(min_length=b[0], max_length=b[0] + b[1])]
    )
    patterns = st.sampled_from(PATTERNS).map(lambda p: Annotated[str, pydantic.Field(pattern=p)])
    return st.one_of(ints, floats, strs, patterns)


def _model(fields: list[Any]) -> type[pydantic.BaseModel]:
    definitions: Any = {f"f{i}": (t, ...) for i, t in enumerate(fields)}
    return pydantic.create_model(f"M{next(_names)}", **definitions)


def _list_of(inner: Any, lengths: tuple[int, int] | None) -> Any:
    if lengths is None:
        return list[inner]  # type: ignore[valid-type]
    low, extra = lengths
    return Annotated[list[inner], pydantic.Field(min_length=low, max_length=low + extra)]  # type: ignore[valid-type]


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(_list_of, children, st.none() | st.tuples(st.integers(0, 3), st.integers(0, 3))),
        children.map(lambda t: Optional[t]),  # noqa: UP045 - built at runtime
        st.tuples(children, children).map(lambda p: Union[p[0], p[1]]),  # noqa: UP007
        st.lists(children, min_size=1, max_size=4).map(_model),
    )


field_types = st.recursive(st.sampled_from(LEAVES) | _constrained(), _extend, max_leaves=8)
models = st.lists(field_types, min_size=1, max_size=5).map(_model)


def _chat(schema_format: dict[str, Any], custom_id: str) -> str:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    request = RespondRequest(
        "/v1/chat/completions", {**body, "response_format": schema_format}, custom_id
    )
    result = FakeResponder().respond_now(request)
    content: str = result.body["choices"][0]["message"]["content"]
    return content


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models, st.text(min_size=1, max_size=8))
def test_random_pydantic_models_parse_from_chat_output(
    model: type[pydantic.BaseModel], custom_id: str
) -> None:
    content = _chat(dict(type_to_response_format_param(model)), custom_id)
    model.model_validate_json(content)


@settings(max_examples=40, deadline=None)
@given(models)
def test_random_pydantic_models_parse_from_responses_output(
    model: type[pydantic.BaseModel],
) -> None:
    schema = type_to_response_format_param(model)["json_schema"]["schema"]  # type: ignore[typeddict-item]
    fmt = {"type": "json_schema", "name": "Out", "schema": schema, "strict": True}
    request = RespondRequest("/v1/responses", {"model": "m", "input": "x", "text": {"format": fmt}})
    body = FakeResponder().respond_now(request).body
    model.model_validate_json(body["output"][0]["content"][0]["text"])


# -- random raw JSON schemas --------------------------------------------------

_strings = st.fixed_dictionaries(
    {"type": st.just("string")},
    optional={
        "minLength": st.integers(0, 5),
        "format": st.sampled_from(["date-time", "date", "email", "uuid", "ipv4", "uri"]),
    },
)
_patterns = st.sampled_from(PATTERNS).map(lambda p: {"type": "string", "pattern": p})


@st.composite
def _numbers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["integer", "number"]))
    schema: dict[str, Any] = {"type": kind}
    low = draw(st.none() | st.integers(-10_000, 10_000))
    step = draw(st.integers(1, 7)) if kind == "integer" and draw(st.booleans()) else None
    # only satisfiable schemas: the range must hold a multiple of the step
    span = draw(st.integers(2 * (step or 1) + 2, 1000))
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = (low or 0) + span
    if step is not None:
        schema["multipleOf"] = step
        schema.setdefault("maximum", (low or 0) + span + 50)
    return schema


_scalars = st.one_of(
    _strings,
    _patterns,
    _numbers(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.integers() | st.text(max_size=5), min_size=1, max_size=4, unique=True).map(
        lambda v: {"enum": v}
    ),
    st.integers().map(lambda v: {"const": v}),
    st.just({"type": ["string", "null"], "maxLength": 8}),
    st.just({}),
)


@st.composite
def _object(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> dict[str, Any]:
    props = draw(
        st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), children, max_size=4)
    )
    required = [k for k in props if draw(st.booleans())]
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    if draw(st.booleans()):
        schema["additionalProperties"] = False
    elif draw(st.booleans()):
        schema["minProperties"] = len(props) + draw(st.integers(0, 2))
    return schema


@st.composite
def _array(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> dict[str, Any]:
    low = draw(st.integers(0, 3))
    schema: dict[str, Any] = {"type": "array", "items": draw(children), "minItems": low}
    if draw(st.booleans()):
        schema["maxItems"] = low + draw(st.integers(0, 3))
    if draw(st.booleans()):  # unique items only over a large domain
        schema["items"] = {"type": "integer"}
        schema["uniqueItems"] = True
    return schema


def _schemas(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        _object(children),
        _array(children),
        st.lists(children, min_size=1, max_size=3).map(lambda b: {"anyOf": b}),
    )


raw_schemas = st.recursive(_scalars, _schemas, max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(raw_schemas, st.integers(0, 2**32))
def test_random_json_schemas_are_satisfied(schema: dict[str, Any], seed: int) -> None:
    value = SchemaFaker(schema).generate(random.Random(seed))
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


@settings(max_examples=60, deadline=None)
@given(raw_schemas, st.integers(0, 2**32))
def test_schemas_behind_defs_and_refs_are_satisfied(schema: dict[str, Any], seed: int) -> None:
    root = {
        "$defs": {"Inner": schema},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/Inner"}, "b": {"items": {"$ref": "#/$defs/Inner"}}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    value = SchemaFaker(root).generate(random.Random(seed))
    jsonschema.validate(value, root, format_checker=jsonschema.FormatChecker())


# -- specific features -------------------------------------------------------


def _check(schema: Any, seeds: range = range(20)) -> list[Any]:
    values = [SchemaFaker(schema).generate(random.Random(s)) for s in seeds]
    for value in values:
        jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
    return values


def test_recursion_is_cut_by_depth() -> None:
    tree = {
        "type": "object",
        "properties": {
            "v": {"type": "integer"},
            "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]},
        },
        "required": ["v", "next"],
        "additionalProperties": False,
    }
    for value in _check(tree):
        depth = 0
        while value is not None:
            value, depth = value["next"], depth + 1
        assert 1 <= depth <= 8


def test_unsatisfiable_required_recursion_terminates() -> None:
    endless = {"type": "object", "properties": {"n": {"$ref": "#"}}, "required": ["n"]}
    SchemaFaker(endless, max_depth=3).generate(random.Random(0))  # returns; no RecursionError


def test_all_of_with_refs_merges_properties() -> None:
    schema = {
        "$defs": {"Base": {"type": "object", "properties": {"id": {"type": "integer"}},
                           "required": ["id"]}},
        "allOf": [{"$ref": "#/$defs/Base"},
                  {"properties": {"name": {"type": "string"}}, "required": ["name"]}],
    }  # fmt: skip
    for value in _check(schema):
        assert set(value) >= {"id", "name"}


def test_draft4_exclusive_flags_and_multiple_of() -> None:
    schema = {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 3,
              "exclusiveMaximum": True}  # fmt: skip
    assert {SchemaFaker(schema).generate(random.Random(s)) for s in range(40)} <= {1, 2}
    odd_steps = _check({"type": "integer", "minimum": 10, "maximum": 40, "multipleOf": 7})
    assert all(v % 7 == 0 and 10 <= v <= 40 for v in odd_steps)
    halves = _check({"type": "number", "minimum": 0, "maximum": 5, "multipleOf": 0.5})
    assert all((v * 2).is_integer() for v in halves)


def test_tuple_items_and_prefix_items() -> None:
    _check({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
            "items": False, "minItems": 2})  # fmt: skip
    draft7 = "http://json-schema.org/draft-07/schema#"
    _check({"$schema": draft7, "type": "array", "items": [{"type": "boolean"}, {"const": 3}],
            "minItems": 2})  # fmt: skip


def test_unique_enum_items_are_distinct() -> None:
    schema = {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True,
              "minItems": 3, "maxItems": 3}  # fmt: skip
    for value in _check(schema):
        assert sorted(value) == ["a", "b", "c"]


def test_type_lists_and_nullable_openapi_style() -> None:
    _check({"type": ["integer", "string", "null"]})
    _check({"type": "string", "nullable": True, "maxLength": 3})
    _check({"type": "object", "minProperties": 2})


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_are_matched(pattern: str) -> None:
    for seed in range(20):
        text = pattern_string(pattern, random.Random(seed))
        assert text is not None
        assert re.search(pattern, text)


def test_unsupported_pattern_falls_back_without_crashing() -> None:
    assert pattern_string(r"(?<=a)b", random.Random(0)) is None  # lookbehind: unsupported
    assert pattern_string("[", random.Random(0)) is None
    value = SchemaFaker({"type": "string", "pattern": "[", "maxLength": 4}).generate(
        random.Random(0)
    )
    assert isinstance(value, str)
    assert len(value) <= 4


@pytest.mark.parametrize(
    ("fmt", "parse"),
    [
        ("date-time", datetime.datetime.fromisoformat),
        ("date", datetime.date.fromisoformat),
        ("time", datetime.time.fromisoformat),
        ("uuid", uuid.UUID),
        ("email", pydantic.TypeAdapter(pydantic.AnyUrl).validate_python if False else str),
        ("uri", pydantic.TypeAdapter(pydantic.AnyUrl).validate_python),
        ("ipv4", pydantic.TypeAdapter(pydantic.IPvAnyAddress).validate_python),
        ("ipv6", pydantic.TypeAdapter(pydantic.IPvAnyAddress).validate_python),
    ],
)
def test_formats_parse(fmt: str, parse: Any) -> None:
    for seed in range(10):
        text = format_string(fmt, random.Random(seed))
        assert text is not None
        parse(text)
    assert format_string("no-such-format", random.Random(0)) is None


def test_uuid_format_is_version_4() -> None:
    text = format_string("uuid", random.Random(3))
    assert text is not None
    assert uuid.UUID(text).version == 4


def test_compiled_schemas_are_cached_by_content() -> None:
    first = compile_schema({"type": "object", "properties": {"a": {"type": "string"}}})
    again = compile_schema(
        json.loads('{"properties": {"a": {"type": "string"}}, "type": "object"}')
    )
    other = compile_schema({"type": "object", "properties": {"b": {"type": "string"}}})
    assert first is again
    assert other is not first


def test_array_items_knob_sets_preferred_length() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    config = ResponderConfig(array_items=5)
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": schema}}
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": fmt}
    result = FakeResponder(config).respond_now(RespondRequest("/v1/chat/completions", body, "r"))
    assert len(json.loads(result.body["choices"][0]["message"]["content"])) == 5


def test_optional_properties_are_filled_above_the_depth_limit() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
              "required": ["a"]}  # fmt: skip
    assert all(set(v) == {"a", "b"} for v in _check(schema))
    shallow = SchemaFaker(schema, max_depth=1)
    nested = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    assert set(SchemaFaker(nested, max_depth=1).generate(random.Random(0))["x"]) == {"a"}
    assert set(shallow.generate(random.Random(0))) == {"a", "b"}


def test_wide_character_ranges_stay_encodable() -> None:
    schema = {"type": "string", "pattern": "^[\\u0100-\\uffff]{50}$"}
    for seed in range(20):
        value = SchemaFaker(schema).generate(random.Random(seed))
        value.encode("utf-8")  # no lone surrogates
        assert len(value) == 50
