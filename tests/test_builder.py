"""BatchBuilder: SDK call shapes, ids, output types, groups and writing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx2
import openai
import pytest
from pydantic import BaseModel

from batchport.builder import BatchBuilder, GroupKey
from batchport.errors import InputError
from batchport.jsonl import read_requests, write_requests
from batchport.requests import Endpoint, Request
from batchport.validate import validate_file


class Sentiment(BaseModel):
    label: Literal["positive", "negative"]
    score: float


MESSAGES = [{"role": "user", "content": "Great phone {not a template} — ünïcödé 👍"}]
PARTS = [
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "Describe {this}"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
        ],
    }
]

SdkCall = Callable[[openai.OpenAI], object]


@pytest.fixture
def sdk_body() -> Iterator[Callable[[SdkCall], tuple[str, dict[str, Any]]]]:
    """Run one call on a real SDK client whose transport records the JSON it sends."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append((request.url.path, json.loads(request.content)))
        return httpx2.Response(400, json={"error": {"message": "recorded", "type": "x"}})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = openai.OpenAI(
        api_key="sk-test", base_url="http://sdk.test/v1", http_client=http, max_retries=0
    )

    def run(call: SdkCall) -> tuple[str, dict[str, Any]]:
        with pytest.raises(openai.BadRequestError):
            call(client)
        return seen[-1]

    yield run
    client.close()


# (builder call, the same SDK call, keys the SDK adds by itself that a batch does not need)
CASES: list[tuple[Callable[[BatchBuilder], Request], SdkCall, dict[str, Any]]] = [
    (
        lambda b: b.responses.create(model="m", input="hi {x}", temperature=0.2),
        lambda c: c.responses.create(model="m", input="hi {x}", temperature=0.2),
        {},
    ),
    (
        lambda b: b.responses.parse(
            model="m", input=PARTS, text_format=Sentiment, text={"verbosity": "low"}
        ),
        lambda c: c.responses.parse(
            model="m", input=PARTS, text_format=Sentiment, text={"verbosity": "low"}
        ),
        {},
    ),
    (
        lambda b: b.chat.completions.create(model="m", messages=MESSAGES, max_tokens=5),
        lambda c: c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=5),
        {},
    ),
    (
        lambda b: b.chat.completions.parse(model="m", messages=MESSAGES, response_format=Sentiment),
        lambda c: c.chat.completions.parse(model="m", messages=MESSAGES, response_format=Sentiment),
        {"stream": False},
    ),
    (
        lambda b: b.embeddings.create(model="e", input=["a", "b"], dimensions=8),
        lambda c: c.embeddings.create(model="e", input=["a", "b"], dimensions=8),
        {"encoding_format": "base64"},  # the SDK's default for numpy decoding
    ),
    (
        lambda b: b.completions.create(model="m", prompt="x", max_tokens=3),
        lambda c: c.completions.create(model="m", prompt="x", max_tokens=3),
        {},
    ),
    (
        lambda b: b.moderations.create(input="x", model="omni-moderation-latest"),
        lambda c: c.moderations.create(input="x", model="omni-moderation-latest"),
        {},
    ),
]


@pytest.mark.parametrize(("build", "sdk_call", "sdk_only"), CASES)
def test_body_equals_what_the_sdk_sends(
    sdk_body: Callable[[SdkCall], tuple[str, dict[str, Any]]],
    build: Callable[[BatchBuilder], Request],
    sdk_call: SdkCall,
    sdk_only: dict[str, Any],
) -> None:
    request = build(BatchBuilder())
    path, body = sdk_body(sdk_call)
    assert request.url == path
    assert request.body | sdk_only == body
    # and the line survives JSON unchanged
    assert Request.from_json(request.to_json()) == request


def test_chat_parse_uses_the_chat_shape_not_the_responses_shape() -> None:
    req = BatchBuilder().chat.completions.parse(
        model="m", messages=MESSAGES, response_format=Sentiment
    )
    fmt = req.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert set(fmt["json_schema"]) == {"name", "schema", "strict"}
    assert "format" not in fmt
    assert "schema" not in fmt


def test_output_models_are_remembered_per_custom_id() -> None:
    b = BatchBuilder()
    b.responses.parse(custom_id="a", model="m", input="x", text_format=Sentiment)
    b.chat.completions.parse(custom_id="b", model="m", messages=MESSAGES, response_format=Sentiment)
    b.responses.create(custom_id="c", model="m", input="x")
    b.chat.completions.parse(
        custom_id="d", model="m", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert b.output_model("a") is Sentiment
    assert b.output_model("b") is Sentiment
    assert b.output_model("c") is None
    assert b.output_model("d") is None
    assert dict(b.output_models) == {"a": Sentiment, "b": Sentiment}
    with pytest.raises(TypeError):
        b.output_models["x"] = Sentiment  # type: ignore[index]


def test_generated_ids_are_stable_order_free_and_unique() -> None:
    def build(texts: list[str]) -> dict[str, str]:
        b = BatchBuilder()
        return {t: b.responses.create(model="m", input=t).custom_id for t in texts}

    first = build(["a", "b", "c"])
    assert first == build(["c", "a", "b"])  # same call, same id, whatever the order
    assert len(set(first.values())) == 3
    assert all(i.startswith("req-") and len(i) == 24 for i in first.values())
    b = BatchBuilder(id_prefix="rev")
    ids = [b.responses.create(model="m", input="same").custom_id for _ in range(3)]
    assert ids[1:] == [f"{ids[0]}-2", f"{ids[0]}-3"]
    assert ids[0].startswith("rev-")


def test_ids_differ_by_endpoint_and_output_type() -> None:
    class Other(BaseModel):
        x: int

    b = BatchBuilder()
    plain = b.responses.create(model="m", input="x").custom_id
    typed = b.responses.parse(model="m", input="x", text_format=Sentiment).custom_id
    other = b.responses.parse(model="m", input="x", text_format=Other).custom_id
    assert len({plain, typed, other}) == 3


def test_duplicate_explicit_id_is_refused() -> None:
    b = BatchBuilder()
    b.responses.create(custom_id="x", model="m", input="1")
    with pytest.raises(InputError, match="duplicate custom_id 'x'") as info:
        b.embeddings.create(custom_id="x", model="e", input="2")
    assert info.value.rule == "duplicate_custom_id"
    assert len(b) == 1


@pytest.mark.parametrize("bad_id", ["", 5])
def test_bad_custom_id_is_refused(bad_id: object) -> None:
    with pytest.raises(InputError, match="non-empty string"):
        BatchBuilder().responses.create(custom_id=bad_id, model="m", input="x")  # type: ignore[arg-type]


def test_stream_true_is_refused_clearly() -> None:
    b = BatchBuilder()
    with pytest.raises(InputError, match="stream=True is not supported") as info:
        b.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert info.value.rule == "streaming_unsupported"
    assert (
        b.chat.completions.create(model="m", messages=MESSAGES, stream=False).body["stream"]
        is False
    )


def test_missing_required_parameter_is_refused() -> None:
    with pytest.raises(
        InputError, match=r"chat.completions.create missing required parameter 'messages'"
    ):
        BatchBuilder().chat.completions.create(model="m")
    with pytest.raises(InputError, match="'input' or 'prompt'"):
        BatchBuilder().responses.create(model="m")


def test_extra_body_merges_and_call_options_are_refused() -> None:
    b = BatchBuilder()
    req = b.responses.create(
        model="m", input="x", extra_body={"service_tier": "flex", "input": "y"}
    )
    assert req.body == {"model": "m", "input": "y", "service_tier": "flex"}
    for option in ({"extra_headers": {"a": "b"}}, {"extra_query": {"a": "b"}}, {"timeout": 3}):
        with pytest.raises(InputError, match="cannot be carried in a batch file"):
            b.responses.create(model="m", input="x", **option)


def test_sdk_sentinels_and_containers_are_normalized() -> None:
    class Msg(BaseModel):
        role: str
        content: str
        name: str | None = None

    b = BatchBuilder()
    req = b.chat.completions.create(
        model="m",
        messages=(m for m in [Msg(role="user", content="hi")]),
        stop=("a", "b"),
        temperature=openai.omit,
        top_p=openai.NOT_GIVEN,
        metadata={"k": Endpoint.RESPONSES},
    )
    assert req.body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stop": ["a", "b"],
        "metadata": {"k": "/v1/responses"},
    }


def test_values_json_cannot_carry_are_refused() -> None:
    with pytest.raises(InputError, match="'input' holds a bytes"):
        BatchBuilder().embeddings.create(model="e", input=b"raw")


def test_text_format_cannot_mix_with_text_format_key() -> None:
    with pytest.raises(InputError, match="Cannot mix and match"):
        BatchBuilder().responses.parse(
            model="m", input="x", text_format=Sentiment, text={"format": {"type": "text"}}
        )


def test_unsupported_response_format_is_refused() -> None:
    with pytest.raises(InputError, match="unsupported response_format"):
        BatchBuilder().chat.completions.parse(model="m", messages=MESSAGES, response_format=42)


def test_generic_request_for_other_endpoints() -> None:
    b = BatchBuilder()
    req = b.request(
        "/v1/images/generations", {"model": "gpt-image-1", "prompt": "a cat"}, custom_id="i"
    )
    assert req.url == "/v1/images/generations"
    with pytest.raises(InputError, match="unknown batch endpoint"):
        b.request("/v1/nope", {})


def test_iterable_sized_contains() -> None:
    b = BatchBuilder()
    reqs = [b.embeddings.create(custom_id=f"e{i}", model="e", input=str(i)) for i in range(3)]
    assert list(b) == reqs
    assert len(b) == 3
    assert "e1" in b
    assert "zz" not in b
    assert "3 requests in 1 group" in repr(b)
    b.extend([Request.build("x", Endpoint.EMBEDDINGS, {"model": "e", "input": "x"})])
    assert len(b) == 4


def test_write_round_trips_content_parts_braces_and_unicode(tmp_path: Path) -> None:
    b = BatchBuilder()
    b.responses.parse(custom_id="p", model="m", input=PARTS, text_format=Sentiment)
    b.responses.create(custom_id="u", model="m", input=MESSAGES)
    stats = b.write(tmp_path / "b.jsonl")
    assert stats.requests == 2
    assert list(read_requests(tmp_path / "b.jsonl")) == list(b)
    assert "ünïcödé 👍".encode() in (tmp_path / "b.jsonl").read_bytes()  # not \u-escaped
    assert validate_file(tmp_path / "b.jsonl").ok
    # the builder is accepted wherever requests are
    assert write_requests(tmp_path / "c.jsonl", b).sha256 == stats.sha256


def test_write_refuses_mixed_groups_naming_them(tmp_path: Path) -> None:
    b = BatchBuilder()
    b.responses.create(model="gpt-4o-mini", input="x")
    b.responses.create(model="gpt-4o", input="x")
    b.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(InputError) as info:
        b.write(tmp_path / "mixed.jsonl")
    text = str(info.value)
    assert "3 groups" in text
    assert "write_groups" in text
    assert "/v1/responses × gpt-4o-mini (1 requests)" in text
    assert "/v1/chat/completions × gpt-4o-mini" in text
    assert not (tmp_path / "mixed.jsonl").exists()


def test_write_groups_writes_one_valid_file_per_group(tmp_path: Path) -> None:
    b = BatchBuilder()
    for i in range(3):
        b.responses.create(model="gpt-4o-mini", input=f"x{i}")
        b.chat.completions.create(model="org/model:v1", messages=MESSAGES, seed=i)
    b.moderations.create(input="x")
    written = b.write_groups(tmp_path / "out")
    assert set(written) == {
        GroupKey("/v1/responses", "gpt-4o-mini"),
        GroupKey("/v1/chat/completions", "org/model:v1"),
        GroupKey("/v1/moderations", None),
    }
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "batch-chat-completions-org_model_v1.jsonl",
        "batch-moderations-default.jsonl",
        "batch-responses-gpt-4o-mini.jsonl",
    ]
    for stats in written.values():
        assert validate_file(stats.path).ok
    assert sum(s.requests for s in written.values()) == len(b) == 7
    assert [len(v) for v in b.groups().values()] == [3, 3, 1]


def test_empty_builder_refuses_to_write(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no requests"):
        BatchBuilder().write(tmp_path / "x.jsonl")


def test_reused_message_list_does_not_rewrite_built_requests() -> None:
    b = BatchBuilder()
    messages = [{"role": "system", "content": "Classify."}, {"role": "user", "content": ""}]
    for review in ("good", "bad"):
        messages[1]["content"] = review
        b.chat.completions.create(custom_id=review, model="m", messages=messages)
    assert [r.body["messages"][1]["content"] for r in b] == ["good", "bad"]
