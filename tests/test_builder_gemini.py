"""builder.models.generate_content: the body the ``google-genai`` SDK would send, as a
batch line (``/v1beta/generateContent``, the bare model in the body)."""

from __future__ import annotations

import enum
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, Literal

import httpx2
import orjson
import pydantic
import pytest
from google import genai
from google.genai import types

from batchport.builder import BatchBuilder
from batchport.errors import InputError
from batchport.requests import Endpoint
from batchport.schema import gemini_response_schema

REPLY = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "{}"}]}, "finishReason": "STOP"}
    ]
}


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Item(pydantic.BaseModel):
    name: str
    qty: int = 1


class Node(pydantic.BaseModel):
    value: int
    children: list[Node] = []


class Sentiment(pydantic.BaseModel):
    label: Literal["positive", "negative", "mixed"]
    only: Literal["x"]
    confidence: float
    note: str | None = None
    item: Item | None = None
    items: list[Item]
    color: Color
    either: int | str


@pytest.fixture
def sdk() -> Iterator[tuple[genai.Client, list[dict[str, Any]]]]:
    """A ``google-genai`` client whose requests are recorded instead of sent."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(orjson.loads(request.content))
        return httpx2.Response(200, json=REPLY)

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = genai.Client(api_key="test-key", http_options=types.HttpOptions(httpx_client=http))
    yield client, bodies
    http.close()


_FREE = frozenset({"args", "parametersJsonSchema", "responseJsonSchema", "default", "example"})


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def wire(value: Any, parent: str = "") -> Any:
    """The SDK's body in one spelling: it sends some keys in snake_case (the API reads
    both); free JSON values and schema property names are left as they are."""
    if isinstance(value, list):
        return [wire(v, parent) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = _camel(key)
        if name in _FREE or (name == "response" and parent == "functionResponse"):
            out[name] = item
        elif name == "properties":
            out[name] = {k: wire(v) for k, v in item.items()}
        else:
            out[name] = wire(item, name)
    return out


def sent_by_sdk(
    sdk: tuple[genai.Client, list[dict[str, Any]]], contents: Any, config: Any = None
) -> dict[str, Any]:
    client, bodies = sdk
    client.models.generate_content(model="gemini-2.5-flash", contents=contents, config=config)
    body: dict[str, Any] = wire(bodies.pop())
    return body


def built(contents: Any, config: Any = None, **kw: Any) -> dict[str, Any]:
    request = BatchBuilder().models.generate_content(
        model="gemini-2.5-flash", contents=contents, config=config, **kw
    )
    assert request.url == Endpoint.GENERATE_CONTENT.value == "/v1beta/generateContent"
    body = dict(request.body)
    assert body.pop("model") == "gemini-2.5-flash"
    return body


FUNCTION_CALL = types.Part.from_function_call(name="lookup", args={"city_name": "Oslo"})
FUNCTION_RESPONSE = types.Part.from_function_response(
    name="lookup", response={"output": {"temp_c": 3}}
)

CONTENTS = [
    "Great phone",
    ["one", "two"],
    [["a", "b"], "c"],
    types.Part.from_text(text="hi"),
    types.Part.from_bytes(data=b"abc", mime_type="image/png"),
    ["look", types.Part.from_bytes(data=b"abc", mime_type="image/png")],
    {"role": "user", "parts": [{"text": "hi"}]},
    [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]},
     "again"],
    {"text": "a part dict"},
    [types.Part.from_uri(file_uri="https://generativelanguage.googleapis.com/v1beta/files/f1",
                         mime_type="application/pdf"), "summarize"],
    {"inline_data": {"mime_type": "image/png", "data": "YWJj"}},
    ["weather?", FUNCTION_CALL, FUNCTION_RESPONSE],
    [types.Content(role="user", parts=[types.Part(text="x")]), types.ModelContent("y"), "z"],
    types.UserContent(parts=["one", "two"]),
]  # fmt: skip


@pytest.mark.parametrize("contents", CONTENTS)
def test_contents_as_the_sdk_sends_them(sdk: Any, contents: Any) -> None:
    assert built(contents) == sent_by_sdk(sdk, contents)


CONFIGS: list[Any] = [
    {"temperature": 0.2, "top_p": 0.9, "top_k": 20, "max_output_tokens": 64, "seed": 7},
    {"maxOutputTokens": 10, "stopSequences": ["END"], "candidateCount": 1},
    {"system_instruction": "Be brief.", "presence_penalty": 0.5, "frequency_penalty": 0.1},
    {"system_instruction": types.Content(parts=[types.Part(text="a"), types.Part(text="b")])},
    {"response_logprobs": True, "logprobs": 3},
    {"thinking_config": {"thinking_budget": 0}},
    {"thinking_config": types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW)},
    {"safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]},
    {"cached_content": "cachedContents/abc"},
    {"cached_content": "abc"},
    {"response_mime_type": "application/json", "response_json_schema": {"type": "object",
     "properties": {"first_name": {"type": "string"}}, "required": ["first_name"]}},
    {"response_mime_type": "text/x.enum", "response_schema": Color},
    {"response_mime_type": "application/json", "response_schema": {"type": "OBJECT",
     "properties": {"a_b": {"type": "STRING"}, "c": {"type": "INTEGER"}}}},
    {"tools": [{"function_declarations": [{"name": "lookup", "description": "find",
      "parameters_json_schema": {"type": "object", "properties": {"city_name":
      {"type": "string"}}}}]}], "tool_config": {"function_calling_config":
      {"mode": "ANY", "allowed_function_names": ["lookup"]}}},
    {"tools": [types.Tool(google_search=types.GoogleSearch()),
               types.Tool(function_declarations=[types.FunctionDeclaration(name="a")]),
               {"function_declarations": [{"name": "b"}]}]},
    types.GenerateContentConfig(temperature=0.0, max_output_tokens=5,
                                system_instruction="sys", stop_sequences=["x"]),
    types.GenerateContentConfig(response_mime_type="application/json",
                                response_schema=list[Item]),
    {"automatic_function_calling": {"disable": True}, "temperature": 1.0},
    {"response_modalities": ["TEXT"], "media_resolution": "MEDIA_RESOLUTION_LOW"},
]  # fmt: skip


@pytest.mark.parametrize("config", CONFIGS)
def test_config_as_the_sdk_sends_it(sdk: Any, config: Any) -> None:
    assert built("Great phone", config) == sent_by_sdk(sdk, "Great phone", config)


@pytest.mark.parametrize("schema", [Sentiment, Item, Node, Color, Level, list[Item], int | None])
def test_response_schema_as_the_sdk_sends_it(sdk: Any, schema: Any) -> None:
    config = {"response_mime_type": "application/json", "response_schema": schema}
    sent = sent_by_sdk(sdk, "Great phone", config)
    assert built("Great phone", config) == sent
    assert gemini_response_schema(schema) == sent["generationConfig"]["responseSchema"]


def test_response_schema_remembers_the_output_type() -> None:
    builder = BatchBuilder()
    config = {"response_mime_type": "application/json", "response_schema": Sentiment}
    request = builder.models.generate_content(
        custom_id="g1", model="models/gemini-2.5-flash", contents="Great phone", config=config
    )
    assert request.model == "gemini-2.5-flash"
    assert builder.output_model("g1") is Sentiment
    generation = request.body["generationConfig"]
    assert generation["responseMimeType"] == "application/json"
    assert generation["responseSchema"]["type"] == "OBJECT"
    assert generation["responseSchema"]["propertyOrdering"][0] == "label"


def test_a_pydantic_model_as_response_json_schema_is_written_as_its_json_schema() -> None:
    builder = BatchBuilder()
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=Item
    )
    request = builder.models.generate_content(
        custom_id="g1", model="gemini-2.5-flash", contents="x", config=config
    )
    assert request.body["generationConfig"]["responseJsonSchema"] == Item.model_json_schema()
    assert builder.output_model("g1") is Item


def test_no_type_is_remembered_without_a_schema_type() -> None:
    builder = BatchBuilder()
    builder.models.generate_content(custom_id="g1", model="gemini-2.5-flash", contents="x")
    builder.models.generate_content(
        custom_id="g2",
        model="gemini-2.5-flash",
        contents="x",
        config={"response_mime_type": "application/json", "response_json_schema": {}},
    )
    assert builder.output_models == {}


def test_the_line_is_json_and_groups_by_model() -> None:
    builder = BatchBuilder()
    builder.models.generate_content(custom_id="a", model="gemini-2.5-flash", contents="x")
    builder.models.generate_content(custom_id="b", model="gemini-2.5-pro", contents="y")
    line = orjson.loads(next(iter(builder)).to_json())
    assert line == {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1beta/generateContent",
        "body": {
            "model": "gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        },
    }
    assert [str(k) for k in builder.groups()] == [
        "/v1beta/generateContent × gemini-2.5-flash",
        "/v1beta/generateContent × gemini-2.5-pro",
    ]


def test_write_groups_names_gemini_files(tmp_path: Any) -> None:
    builder = BatchBuilder()
    builder.models.generate_content(custom_id="a", model="gemini-2.5-flash", contents="x")
    builder.write_groups(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["batch-generateContent-gemini-2.5-flash.jsonl"]


def test_bytes_are_standard_base64() -> None:
    part = types.Part.from_bytes(data=b"\xfb\xff", mime_type="image/png")
    body = built([part, {"inline_data": {"mime_type": "image/png", "data": b"\xfb\xff"}}])
    datas = [p["inlineData"]["data"] for p in body["contents"][0]["parts"]]
    assert datas == ["+/8=", "+/8="]


def test_duplicate_ids_are_refused() -> None:
    builder = BatchBuilder()
    builder.models.generate_content(custom_id="a", model="gemini-2.5-flash", contents="x")
    with pytest.raises(InputError) as err:
        builder.models.generate_content(custom_id="a", model="gemini-2.5-flash", contents="y")
    assert err.value.rule == "duplicate_custom_id"


def lookup(city: str) -> str:
    return city


@pytest.mark.parametrize(
    ("kwargs", "rule", "match"),
    [
        ({"stream": True}, "streaming_unsupported", "stream"),
        ({"temperature": 0.1}, "invalid_request", "unexpected keyword"),
        ({"contents": []}, "invalid_request", "contents are required"),
        ({"contents": None}, "invalid_request", "contents are required"),
        ({"model": ""}, "invalid_request", "model must be"),
        ({"model": "../x"}, "invalid_request", "invalid model"),
        ({"contents": object()}, "invalid_request", "unsupported content"),
        ({"config": {"http_options": {"timeout": 5}}}, "invalid_request", "client-side"),
        ({"config": types.GenerateContentConfig(http_options=types.HttpOptions(timeout=5))},
         "invalid_request", "httpOptions"),
        ({"config": {"should_return_http_response": True}}, "invalid_request", "client-side"),
        ({"config": {"tools": [lookup]}}, "invalid_request", "automatic function calling"),
        ({"config": types.GenerateContentConfig(tools=[lookup])}, "invalid_request",
         "callable"),
        ({"config": {"automatic_continuation": True}}, "invalid_request", "automatic_cont"),
        ({"config": {"routing_config": {}}}, "invalid_request", "Vertex"),
        ({"config": {"audio_timestamp": True}}, "invalid_request", "Vertex"),
        ({"config": {"no_such_field": 1}}, "invalid_request", "no field 'noSuchField'"),
        ({"config": {"top_p": 1, "topP": 1}}, "invalid_request", "twice"),
        ({"config": "fast"}, "invalid_request", "config must be"),
        ({"config": {"response_schema": 3}}, "invalid_request", "response_schema"),
        ({"config": {"response_schema": {"type": "object", "additionalProperties": {"a": 1}}}},
         "invalid_request", "additionalProperties"),
        ({"config": {"response_schema": {"type": "integer", "exclusiveMinimum": 0}}},
         "invalid_request", "exclusiveMinimum"),
        ({"config": {"response_schema": {"type": "integer", "const": 1}}},
         "invalid_request", "Literal values must be strings"),
        ({"contents": [{"role": "user", "parts": [{"text": object()}]}]},
         "invalid_request", "JSON body"),
    ],
)  # fmt: skip
def test_refusals(kwargs: dict[str, Any], rule: str, match: str) -> None:
    call = {"model": "gemini-2.5-flash", "contents": "x", **kwargs}
    with pytest.raises(InputError, match=match) as err:
        BatchBuilder().models.generate_content(**call)
    assert err.value.rule == rule


def test_building_a_gemini_request_does_not_import_the_sdk() -> None:
    code = (
        "import sys, pydantic\n"
        "from batchport import BatchBuilder\n"
        "class M(pydantic.BaseModel):\n    a: int\n"
        "b = BatchBuilder()\n"
        "b.models.generate_content(model='gemini-2.5-flash', contents=['x', {'text': 'y'}],\n"
        "    config={'response_mime_type': 'application/json', 'response_schema': M,\n"
        "            'tools': [{'function_declarations': [{'name': 'f'}]}]})\n"
        "assert not any(m.startswith('google.genai') for m in sys.modules), 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
