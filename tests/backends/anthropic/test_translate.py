"""to_messages: chat completions and responses requests as Anthropic Messages requests."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from batchport.backends.anthropic.translate import to_messages
from batchport.builder import BatchBuilder
from batchport.errors import InputError
from batchport.requests import Request
from batchport.schema import claude_json_schema

from .._translate_helpers import USER, chat, responses

MODELS = {"gpt-4o-mini": "claude-haiku-4-5"}
TEXT_2 = {"type": "text", "text": "2"}


def params(request: Request, **kw: Any) -> dict[str, Any]:
    out = to_messages(request, MODELS, **kw)
    assert (out.custom_id, out.method, out.url) == (request.custom_id, "POST", "/v1/messages")
    return out.body


def refused(request: Request, rule: str = "untranslatable_feature") -> InputError:
    with pytest.raises(InputError) as info:
        to_messages(request, MODELS)
    assert info.value.rule == rule
    assert "'r1'" in info.value.message
    return info.value


class Sentiment(pydantic.BaseModel):
    label: str
    score: float = pydantic.Field(ge=0, le=1)


# -- the basics ---------------------------------------------------------------------


def test_plain_chat() -> None:
    assert params(chat()) == {
        "model": "claude-haiku-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_default_max_tokens_and_the_three_max_keys() -> None:
    assert params(chat(), default_max_tokens=77)["max_tokens"] == 77
    assert params(chat(max_tokens=10))["max_tokens"] == 10
    assert params(chat(max_completion_tokens=11))["max_tokens"] == 11
    assert params(responses(input="x", max_output_tokens=12))["max_tokens"] == 12
    refused(chat(max_tokens=10, max_completion_tokens=11), "invalid_request")
    refused(chat(max_tokens=0), "invalid_request")


def test_system_and_developer_messages_in_order() -> None:
    body = params(
        chat(
            messages=[
                {"role": "system", "content": "one"},
                {"role": "developer", "content": [{"type": "text", "text": "two"}]},
                USER,
            ]
        )
    )
    assert body["system"] == [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert params(chat(messages=[{"role": "system", "content": "s"}, USER]))["system"] == "s"


def test_system_after_the_first_turn_is_refused() -> None:
    error = refused(chat(messages=[USER, {"role": "system", "content": "late"}]))
    assert "system message after the first turn" in error.message


def test_consecutive_turns_are_merged() -> None:
    body = params(
        chat(
            messages=[
                USER,
                {"role": "user", "content": "again"},
                {"role": "assistant", "content": "a"},
                {"role": "assistant", "content": "b"},
                USER,
            ]
        )
    )
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "hi"},
        {"type": "text", "text": "again"},
    ]


def test_conversation_must_start_with_user_and_not_end_with_assistant() -> None:
    refused(chat(messages=[{"role": "assistant", "content": "x"}, USER]))
    error = refused(chat(messages=[USER, {"role": "assistant", "content": "x"}]))
    assert "ends with an assistant turn" in error.message
    refused(chat(messages=[{"role": "user", "content": ""}]), "invalid_request")


def test_images() -> None:
    parts = [
        {"type": "text", "text": "what is it"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
    ]
    content = params(chat(messages=[{"role": "user", "content": parts}]))["messages"][0]["content"]
    assert content[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
    }
    assert content[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/a.jpg"},
    }


@pytest.mark.parametrize(
    "url", ["data:image/tiff;base64,AA", "data:image/png,AA", "ftp://x/y.png", "file:///a.png"]
)
def test_images_without_a_form(url: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    refused(chat(messages=[{"role": "user", "content": [part]}]))


def test_tool_calls_and_results() -> None:
    messages = [
        USER,
        {
            "role": "assistant",
            "content": "checking",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "2"}]},
    ]
    body = params(chat(messages=messages))
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "checking"},
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}},
        {"type": "tool_use", "id": "c2", "name": "g", "input": {}},
    ]
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "1"},
            {
                "type": "tool_result",
                "tool_use_id": "c2",
                "content": [{"type": "text", "text": "2"}],
            },
        ],
    }


def test_bad_tool_arguments() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{nope"}}
    messages = [USER, {"role": "assistant", "tool_calls": [call]}, USER]
    refused(chat(messages=messages), "invalid_request")


# -- parameters ---------------------------------------------------------------------


def test_sampling() -> None:
    assert params(chat(temperature=0.2))["temperature"] == 0.2
    assert params(chat(top_p=0.9))["top_p"] == 0.9
    body = params(chat(temperature=1, top_p=1.0))
    assert "temperature" not in body and "top_p" not in body
    error = refused(chat(temperature=1.5))
    assert "temperature=1.5" in error.message
    refused(chat(temperature=0.5, top_p=0.5))
    refused(chat(temperature=-1), "invalid_request")
    refused(chat(temperature="hot"), "invalid_request")
    refused(chat(model="claude-opus-5", temperature=0.3))
    assert "temperature" not in params(chat(model="claude-opus-5", temperature=1))


def test_stop_sequences() -> None:
    assert params(chat(stop="END"))["stop_sequences"] == ["END"]
    assert params(chat(stop=["a", "b"]))["stop_sequences"] == ["a", "b"]
    assert "stop_sequences" not in params(chat(stop=[]))


def test_tools_and_tool_choice() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": schema}}
    body = params(chat(tools=[tool], tool_choice="auto"))
    assert body["tools"] == [
        {
            "name": "f",
            "description": "d",
            "input_schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
        }
    ]
    assert body["tool_choice"] == {"type": "auto"}
    assert params(chat(tools=[tool], tool_choice="required"))["tool_choice"] == {"type": "any"}
    assert params(chat(tools=[tool], tool_choice="none"))["tool_choice"] == {"type": "none"}
    named = {"type": "function", "function": {"name": "f"}}
    assert params(chat(tools=[tool], tool_choice=named))["tool_choice"] == {
        "type": "tool",
        "name": "f",
    }
    assert params(chat(tools=[tool], parallel_tool_calls=False))["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    assert "tool_choice" not in params(chat(tools=[tool], parallel_tool_calls=True))
    bare = params(chat(tools=[{"type": "function", "function": {"name": "g"}}]))
    assert bare["tools"] == [{"name": "g", "input_schema": {"type": "object", "properties": {}}}]
    refused(chat(tools=[{"type": "custom", "custom": {"name": "x"}}]))
    refused(chat(tools=[tool], tool_choice={"type": "allowed_tools"}))


def test_strict_tool_schema_is_rewritten() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}
    tool = {"type": "function", "function": {"name": "f", "parameters": schema, "strict": True}}
    (out,) = params(chat(tools=[tool]))["tools"]
    assert out["strict"] is True
    assert out["input_schema"] == claude_json_schema(schema)


def test_structured_output_from_chat_parse_and_responses_parse() -> None:
    builder = BatchBuilder()
    a = builder.chat.completions.parse(
        custom_id="r1", model="gpt-4o-mini", messages=[USER], response_format=Sentiment
    )
    b = builder.responses.parse(
        custom_id="r2", model="gpt-4o-mini", input="hi", text_format=Sentiment
    )
    strict = a.body["response_format"]["json_schema"]["schema"]
    expected = {"format": {"type": "json_schema", "schema": claude_json_schema(strict)}}
    assert params(a)["output_config"] == expected
    assert to_messages(b, MODELS).body["output_config"] == expected
    assert expected["format"]["schema"]["additionalProperties"] is False


def test_json_object_is_refused_and_text_is_nothing() -> None:
    error = refused(chat(response_format={"type": "json_object"}))
    assert "json_object" in error.message
    refused(responses(input="x", text={"format": {"type": "json_object"}}))
    assert "output_config" not in params(chat(response_format={"type": "text"}))


def test_user_becomes_metadata_user_id() -> None:
    assert params(chat(user="u-1"))["metadata"] == {"user_id": "u-1"}
    assert params(chat(safety_identifier="s"))["metadata"] == {"user_id": "s"}
    refused(chat(user="a", safety_identifier="b"))


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 2},
        {"logprobs": True},
        {"top_logprobs": 3},
        {"logit_bias": {"1": 5}},
        {"frequency_penalty": 0.5},
        {"presence_penalty": -0.2},
        {"seed": 7},
        {"audio": {"voice": "alloy", "format": "wav"}},
        {"modalities": ["text", "audio"]},
        {"prediction": {"type": "content", "content": "x"}},
        {"web_search_options": {}},
        {"functions": [{"name": "f"}]},
        {"reasoning_effort": "low"},
        {"verbosity": "low"},
        {"service_tier": "flex"},
        {"metadata": {"k": "v"}},
        {"stream": True},
        {"something_new": 1},
    ],
)
def test_untranslatable_chat_features(extra: dict[str, Any]) -> None:
    error = refused(chat(**extra))
    assert next(iter(extra)) in error.message


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 1},
        {"logprobs": False},
        {"frequency_penalty": 0},
        {"presence_penalty": 0.0},
        {"logit_bias": {}},
        {"modalities": ["text"]},
        {"service_tier": "auto"},
        {"store": True},
        {"prompt_cache_key": "k"},
        {"parallel_tool_calls": True},
        {"metadata": {}},
        {"stream": False},
    ],
)
def test_neutral_chat_parameters_are_left_out(extra: dict[str, Any]) -> None:
    assert params(chat(**extra)) == params(chat())


def test_message_names_and_audio_parts_are_refused() -> None:
    refused(chat(messages=[{"role": "user", "content": "x", "name": "bob"}]))
    audio = {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}
    refused(chat(messages=[{"role": "user", "content": [audio]}]))
    refused(chat(messages=[{"role": "function", "name": "f", "content": "x"}]))


# -- responses ----------------------------------------------------------------------


def test_responses_items() -> None:
    items = [
        {"role": "developer", "content": "dev"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"},
         {"type": "input_image", "image_url": "https://e.com/i.png", "detail": "auto"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a": 2}'},
        {"type": "function_call_output", "call_id": "c1", "output": "done"},
    ]  # fmt: skip
    body = params(responses(instructions="inst", input=items, temperature=0.5))
    assert body["system"] == [{"type": "text", "text": "inst"}, {"type": "text", "text": "dev"}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 2}}
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "done"}
    ]
    assert body["temperature"] == 0.5


def test_responses_tools() -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}
    body = params(responses(input="x", tools=[tool], tool_choice={"type": "function", "name": "f"}))
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    assert body["tool_choice"] == {"type": "tool", "name": "f"}
    refused(responses(input="x", tools=[{"type": "web_search"}]))


@pytest.mark.parametrize(
    "extra",
    [
        {"previous_response_id": "resp_1"},
        {"conversation": "conv_1"},
        {"prompt": {"id": "pmpt_1"}},
        {"background": True},
        {"include": ["reasoning.encrypted_content"]},
        {"max_tool_calls": 3},
        {"reasoning": {"effort": "high"}},
        {"truncation": "auto"},
        {"text": {"verbosity": "low"}},
    ],
)
def test_untranslatable_responses_features(extra: dict[str, Any]) -> None:
    refused(responses(input="x", **extra))


def test_responses_items_without_a_form() -> None:
    refused(responses(input=[{"type": "reasoning", "summary": []}]))
    refused(responses(input=[{"type": "item_reference", "id": "x"}]))
    image = {"type": "input_image", "file_id": "file-1"}
    refused(responses(input=[{"role": "user", "content": [image]}]))
    refused(responses(input=[{"role": "user", "content": [{"type": "input_file"}]}]))


# -- models, endpoints, pass-through --------------------------------------------------


def test_models() -> None:
    assert params(chat(model="claude-sonnet-4-5"))["model"] == "claude-sonnet-4-5"
    error = refused(chat(model="gpt-4.1"), "unmapped_model")
    assert 'models={"gpt-4.1": "claude-haiku-4-5"}' in error.message
    refused(chat(model=None), "invalid_request")


def test_messages_requests_pass_through_with_the_model_mapped() -> None:
    body = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [USER], "top_k": 3}
    request = Request(custom_id="r1", url="/v1/messages", body=body)
    assert params(request) == {**body, "model": "claude-haiku-4-5"}
    assert request.body["model"] == "gpt-4o-mini"  # the caller's request is untouched


@pytest.mark.parametrize(
    "url", ["/v1/embeddings", "/v1/moderations", "/v1/completions", "/v1/images/generations"]
)
def test_other_endpoints_are_refused(url: str) -> None:
    error = refused(Request(custom_id="r1", url=url, body={"model": "gpt-4o-mini", "input": "x"}))
    assert url in error.message


def test_malformed_bodies_are_input_errors() -> None:
    refused(chat(messages="hi"), "invalid_request")
    refused(chat(messages=[None]), "invalid_request")
    refused(responses(input=42), "invalid_request")
    refused(chat(tools=[{"type": "function"}]), "invalid_request")
    call = {"id": "c1", "type": "function"}
    refused(
        chat(messages=[USER, {"role": "assistant", "tool_calls": [call]}, USER]), "invalid_request"
    )
