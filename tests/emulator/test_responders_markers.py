"""Markers force outcomes; bad bodies and forced statuses get the real
error envelopes; tools and JSON modes shape the answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types import Completion, ModerationCreateResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from batchport_emulator.responders import (
    FakeResponder,
    ResponderConfig,
    RespondRequest,
    RespondResult,
    status_error,
)
from batchport_emulator.responders.prompt import find_markers

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
SCHEMA = {
    "type": "object",
    "properties": {"label": {"enum": ["pos", "neg"]}, "score": {"type": "number"}},
    "required": ["label", "score"],
    "additionalProperties": False,
}
CHAT_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "S", "schema": SCHEMA}}
RESPONSES_SCHEMA_TEXT = {"format": {"type": "json_schema", "name": "S", "schema": SCHEMA}}


def answer(url: str, body: dict[str, Any], dialect: str = "openai") -> RespondResult:
    request = RespondRequest(url, body, "row-1", dialect)  # type: ignore[arg-type]
    return FakeResponder(ResponderConfig(output_words=40)).respond_now(request)


def chat(text: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def assert_envelope(result: RespondResult, status: int, type_: str, code: str | None) -> None:
    assert result.status_code == status
    assert set(result.body) == {"error"}
    error = result.body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert (error["type"], error["code"]) == (type_, code)
    assert result.input_tokens == result.output_tokens == 0


# -- status markers everywhere ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "type_", "code"),
    [
        (400, "invalid_request_error", None),
        (401, "invalid_request_error", "invalid_api_key"),
        (404, "invalid_request_error", "model_not_found"),
        (409, "invalid_request_error", None),
        (422, "invalid_request_error", None),
        (429, "requests", "rate_limit_exceeded"),
        (500, "server_error", None),
        (503, "server_error", None),
        (418, "invalid_request_error", None),
        (599, "server_error", None),
    ],
)
def test_status_marker_gives_the_real_error_body(status: int, type_: str, code: str | None) -> None:
    result = answer(CHAT, chat(f"please [[emulator:status={status}]] now"))
    assert_envelope(result, status, type_, code)
    if status == 404:
        assert "`gpt-4o-mini` does not exist" in result.body["error"]["message"]
    if status == 429:
        assert result.body["error"]["message"].startswith("Rate limit reached for gpt-4o-mini")


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (CHAT, chat([{"type": "text", "text": "x [[emulator:status=500]]"}])),
        (CHAT, {"model": "m", "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "[[emulator:status=500]]"}]}),
        (RESPONSES, {"model": "m", "input": "[[emulator:status=500]]"}),
        (RESPONSES, {"model": "m", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "[[emulator:status=500]]"}]}
        ]}),
        (RESPONSES, {"model": "m",
                     "input": [{"role": "user", "content": "[[emulator:status=500]]"}]}),
        ("/v1/completions", {"model": "m", "prompt": "[[emulator:status=500]]"}),
        ("/v1/completions", {"model": "m", "prompt": ["ok", "[[emulator:status=500]]"]}),
        ("/v1/embeddings", {"model": "m", "input": ["ok", "[[emulator:status=500]]"]}),
        ("/v1/moderations", {"input": "[[emulator:status=500]]"}),
    ],
)  # fmt: skip
def test_status_marker_is_found_in_every_text_location(url: str, body: dict[str, Any]) -> None:
    assert answer(url, body).status_code == 500


def test_status_outside_error_range_is_ignored() -> None:
    assert answer(CHAT, chat("[[emulator:status=200]]")).status_code == 200
    assert find_markers("[[emulator:status=302]]") is None


@given(st.text(max_size=40), st.text(max_size=40), st.integers(400, 599))
def test_find_markers_finds_a_status_anywhere(before: str, after: str, status: int) -> None:
    markers = find_markers(f"{before}[[emulator:status={status}]]{after}")
    assert markers is not None
    # text around the marker may itself contain a marker; the first status wins
    first = find_markers(before)
    expected = first.status if first is not None and first.status is not None else status
    assert markers.status == expected


@given(st.text(alphabet=st.characters(blacklist_characters="["), max_size=60))
def test_text_without_markers_has_none(text: str) -> None:
    assert find_markers(text) is None


# -- refusal, truncation, content filter -------------------------------------


def test_refuse_marker_in_chat_sets_refusal_and_null_content() -> None:
    result = answer(CHAT, chat("[[emulator:refuse]]", response_format=CHAT_SCHEMA_FORMAT))
    message = ChatCompletion.model_validate(result.body, strict=True).choices[0].message
    assert message.content is None
    assert message.refusal
    assert result.output_tokens > 0


def test_refuse_marker_in_responses_gives_a_refusal_part() -> None:
    body = {"model": "m", "input": "[[emulator:refuse]]", "text": RESPONSES_SCHEMA_TEXT}
    parsed = Response.model_validate(answer(RESPONSES, body).body, strict=True)
    part = parsed.output[0].content[0]  # type: ignore[union-attr]
    assert part.type == "refusal"
    assert part.refusal
    assert parsed.status == "completed"


def test_truncate_marker_leaves_structured_output_invalid() -> None:
    result = answer(CHAT, chat("[[emulator:truncate]]", response_format=CHAT_SCHEMA_FORMAT))
    choice = ChatCompletion.model_validate(result.body, strict=True).choices[0]
    assert choice.finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.content or "")
    body = {"model": "m", "input": "[[emulator:truncate]]", "text": RESPONSES_SCHEMA_TEXT}
    parsed = Response.model_validate(answer(RESPONSES, body).body, strict=True)
    assert parsed.status == "incomplete"
    assert parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "max_output_tokens"
    assert parsed.output[0].status == "incomplete"  # type: ignore[union-attr]
    with pytest.raises(json.JSONDecodeError):
        json.loads(parsed.output_text)


def test_truncate_marker_cuts_plain_text() -> None:
    full = answer(CHAT, chat("hello")).body["choices"][0]["message"]["content"]
    cut = answer(CHAT, chat("hello [[emulator:truncate]]")).body["choices"][0]
    assert cut["finish_reason"] == "length"
    assert 0 < len(cut["message"]["content"]) < len(full)


@pytest.mark.parametrize("dialect", ["openai", "azure"])
def test_content_filter_marker(dialect: str) -> None:
    result = answer(CHAT, chat("[[emulator:content_filter]]"), dialect)
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    ChatCompletion.model_validate(result.body, strict=True)
    if dialect == "azure":
        filters = choice["content_filter_results"]
        assert any(f["filtered"] for f in filters.values())
        assert set(filters) == {"hate", "self_harm", "sexual", "violence"}
        prompt = result.body["prompt_filter_results"][0]["content_filter_results"]
        assert prompt["jailbreak"] == {"filtered": False, "detected": False}
    else:
        assert "content_filter_results" not in choice
    body = {"model": "m", "input": "[[emulator:content_filter]]"}
    parsed = Response.model_validate(answer(RESPONSES, body, dialect).body, strict=True)
    assert parsed.status == "incomplete"
    assert parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "content_filter"


def test_azure_unfiltered_choices_say_so() -> None:
    filters = answer(CHAT, chat("fine"), "azure").body["choices"][0]["content_filter_results"]
    assert not any(f["filtered"] for f in filters.values())


def test_content_filter_marker_in_completions_and_moderations() -> None:
    done = answer("/v1/completions", {"model": "m", "prompt": "[[emulator:content_filter]]"})
    assert Completion.model_validate(done.body).choices[0].finish_reason == "content_filter"
    body = {"input": ["fine", "bad [[emulator:content_filter]]"]}
    parsed = ModerationCreateResponse.model_validate(answer("/v1/moderations", body).body)
    assert [r.flagged for r in parsed.results] == [False, True]
    assert parsed.results[1].categories.violence


# -- bad bodies --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "param", "code", "message"),
    [
        (CHAT, {"messages": []}, None, None, "you must provide a model parameter"),
        (CHAT, {"model": "m"}, "messages", "missing_required_parameter",
         "Missing required parameter: 'messages'."),
        (CHAT, {"model": "m", "messages": []}, "messages", "empty_array", None),
        (CHAT, {"model": "m", "messages": "hi"}, "messages", "invalid_type", None),
        (CHAT, {"model": 3, "messages": [{"role": "user", "content": "x"}]}, "model",
         "invalid_type", "Invalid type for 'model': expected a string, but got a number instead."),
        (CHAT, {"model": "m", "messages": [{"content": "x"}]}, "messages[0].role",
         "missing_required_parameter", None),
        (CHAT, chat("x", response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
         "response_format.json_schema.name", "missing_required_parameter", None),
        (CHAT, chat("x", stream=True), "stream", "invalid_value", None),
        (RESPONSES, {"input": "x"}, "model", "missing_required_parameter",
         "Missing required parameter: 'model'."),
        (RESPONSES, {"model": "m"}, "input", "missing_required_parameter",
         "Missing required parameter: 'input'."),
        (RESPONSES, {"model": "m", "input": "x", "text": {"format": {"type": "json_schema"}}},
         "text.format.name", "missing_required_parameter", None),
        ("/v1/embeddings", {"model": "m"}, "input", "missing_required_parameter", None),
        ("/v1/embeddings", {"model": "m", "input": ""}, None, None, None),
        ("/v1/embeddings", {"model": "m", "input": "x", "encoding_format": "hex"},
         "encoding_format", "invalid_value", None),
        ("/v1/embeddings", {"model": "m", "input": "x", "dimensions": 0}, "dimensions",
         "invalid_value", None),
        ("/v1/moderations", {"model": "m"}, "input", "missing_required_parameter", None),
    ],
)  # fmt: skip
def test_bad_bodies_get_the_real_400(
    url: str, body: dict[str, Any], param: str | None, code: str | None, message: str | None
) -> None:
    result = answer(url, body)
    assert_envelope(result, 400, "invalid_request_error", code)
    assert result.body["error"]["param"] == param
    if message is not None:
        assert result.body["error"]["message"] == message


def test_body_that_is_not_an_object_is_a_400() -> None:
    request = RespondRequest(CHAT, ["not", "an", "object"])  # type: ignore[arg-type]
    assert FakeResponder().respond_now(request).status_code == 400


def test_status_error_bodies_are_fresh_dicts() -> None:
    first = status_error(500)
    first.body["error"]["message"] = "changed"
    assert status_error(500).body["error"]["message"] != "changed"


# -- tools and JSON modes ----------------------------------------------------

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city", "days"],
    "additionalProperties": False,
}
CHAT_TOOLS = [
    {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "weather", "parameters": WEATHER}},
]
RESPONSES_TOOLS = [{"type": "function", "name": "weather", "parameters": WEATHER, "strict": True}]


@pytest.mark.parametrize(
    ("choice", "name", "finish"),
    [
        ("required", "noop", "tool_calls"),
        ({"type": "function", "function": {"name": "weather"}}, "weather", "stop"),
    ],
)
def test_chat_forced_tool_call_has_valid_arguments(choice: Any, name: str, finish: str) -> None:
    result = answer(CHAT, chat("x", tools=CHAT_TOOLS, tool_choice=choice))
    parsed = ChatCompletion.model_validate(result.body, strict=True).choices[0]
    assert parsed.finish_reason == finish
    assert parsed.message.content is None
    calls = parsed.message.tool_calls or []
    assert len(calls) == 1
    assert calls[0].id.startswith("call_")
    assert calls[0].function.name == name  # type: ignore[union-attr]
    arguments = json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
    if name == "weather":
        assert set(arguments) == {"city", "days"}
        assert arguments["days"] >= 1


def test_auto_tool_choice_answers_in_text() -> None:
    result = answer(CHAT, chat("x", tools=CHAT_TOOLS))
    message = result.body["choices"][0]["message"]
    assert "tool_calls" not in message
    assert message["content"]


def test_unknown_named_tool_is_a_400() -> None:
    choice = {"type": "function", "function": {"name": "missing"}}
    result = answer(CHAT, chat("x", tools=CHAT_TOOLS, tool_choice=choice))
    assert_envelope(result, 400, "invalid_request_error", "invalid_value")


def test_responses_forced_tool_call() -> None:
    body = {"model": "m", "input": "x", "tools": RESPONSES_TOOLS, "tool_choice": "required"}
    parsed = Response.model_validate(answer(RESPONSES, body).body, strict=True)
    call = parsed.output[0]
    assert call.type == "function_call"
    assert call.id is not None
    assert call.id.startswith("fc_")
    assert call.call_id.startswith("call_")
    assert set(json.loads(call.arguments)) == {"city", "days"}
    assert parsed.tools[0].type == "function"


def test_json_object_mode_gives_an_object() -> None:
    result = answer(CHAT, chat("x", response_format={"type": "json_object"}))
    assert isinstance(json.loads(result.body["choices"][0]["message"]["content"]), dict)
    body = {"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}}
    parsed = Response.model_validate(answer(RESPONSES, body).body, strict=True)
    assert isinstance(json.loads(parsed.output_text), dict)
    assert parsed.text is not None
    assert parsed.text.format is not None
    assert parsed.text.format.type == "json_object"


def test_structured_output_in_both_apis() -> None:
    content = answer(CHAT, chat("x", response_format=CHAT_SCHEMA_FORMAT)).body["choices"][0]
    value = json.loads(content["message"]["content"])
    assert set(value) == {"label", "score"}
    assert value["label"] in ("pos", "neg")
    body = {"model": "m", "input": "x", "text": RESPONSES_SCHEMA_TEXT}
    parsed = Response.model_validate(answer(RESPONSES, body).body, strict=True)
    assert set(json.loads(parsed.output_text)) == {"label", "score"}
