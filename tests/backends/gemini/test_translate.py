"""to_generate_content: chat completions and responses requests as Gemini generateContent
requests; every translated feature and every refusal, by rule."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from batchport.backends.gemini.translate import to_generate_content
from batchport.builder import BatchBuilder
from batchport.errors import InputError
from batchport.requests import Request

from .._translate_helpers import CHAT, USER, chat, responses

MODELS = {"gpt-4o-mini": "gemini-2.5-flash"}
PNG = "data:image/png;base64,iVBORw0KGgo="
CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}


def params(request: Request, **kw: Any) -> dict[str, Any]:
    out = to_generate_content(request, MODELS, **kw)
    assert (out.custom_id, out.method, out.url) == ("r1", "POST", "/v1beta/generateContent")
    return out.body


def refused(request: Request, rule: str = "untranslatable_feature") -> InputError:
    with pytest.raises(InputError) as info:
        to_generate_content(request, MODELS)
    assert info.value.rule == rule
    assert "'r1'" in info.value.message
    return info.value


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


class Sentiment(pydantic.BaseModel):
    label: str
    score: float


# -- the basics ---------------------------------------------------------------------


def test_plain_chat() -> None:
    assert params(chat()) == {"model": "gemini-2.5-flash", "contents": [user({"text": "hi"})]}


def test_default_max_tokens_only_when_asked() -> None:
    body = params(chat(), default_max_tokens=256)
    assert body["generationConfig"] == {"maxOutputTokens": 256}
    assert params(chat(max_tokens=9), default_max_tokens=256)["generationConfig"] == {
        "maxOutputTokens": 9
    }


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_chat_max_tokens(key: str) -> None:
    assert params(chat(**{key: 100}))["generationConfig"] == {"maxOutputTokens": 100}


def test_gemini_models_pass_and_the_models_prefix_goes() -> None:
    body = {"model": "models/gemini-2.5-pro", "messages": [USER]}
    assert params(Request(custom_id="r1", url=CHAT, body=body))["model"] == "gemini-2.5-pro"
    mapped = to_generate_content(chat(), {"gpt-4o-mini": "models/gemini-2.0-flash"})
    assert mapped.body["model"] == "gemini-2.0-flash"


def test_unmapped_model_names_a_mapping() -> None:
    request = Request(custom_id="r1", url=CHAT, body={"model": "gpt-4o", "messages": [USER]})
    err = refused(request, "unmapped_model")
    assert 'models={"gpt-4o": "gemini-2.5-flash"}' in err.message


def test_native_requests_pass_through_with_the_model_mapped() -> None:
    body = {"model": "gpt-4o-mini", "contents": [user({"text": "x"})], "safetySettings": []}
    request = Request(custom_id="r1", url="/v1beta/generateContent", body=body)
    assert params(request) == {**body, "model": "gemini-2.5-flash"}
    assert request.body["model"] == "gpt-4o-mini"  # the caller's request is untouched


# -- conversation -------------------------------------------------------------------


def test_system_and_developer_become_system_instruction() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": [{"type": "text", "text": "use JSON"}]},
        USER,
    ]
    body = params(chat(messages=messages))
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}, {"text": "use JSON"}]}
    assert body["contents"] == [user({"text": "hi"})]


def test_turns_get_gemini_roles_and_merge() -> None:
    messages = [
        USER,
        {"role": "user", "content": [{"type": "text", "text": "2"}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "3"}]},
    ]
    assert params(chat(messages=messages))["contents"] == [
        user({"text": "hi"}, {"text": "2"}),
        {"role": "model", "parts": [{"text": "no"}]},
        user({"text": "3"}),
    ]


def test_data_url_images_become_inline_data() -> None:
    part = {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}}
    body = params(chat(messages=[{"role": "user", "content": [part]}]))
    assert body["contents"] == [
        user({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
    ]


def test_tool_calls_and_results() -> None:
    messages = [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "a"}]},
    ]
    assert params(chat(messages=messages))["contents"] == [
        user({"text": "hi"}),
        {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": 1}}}]},
        user(
            {"functionResponse": {"name": "lookup", "response": {"output": "42"}}},
            {"functionResponse": {"name": "lookup", "response": {"output": "a"}}},
        ),
    ]


def test_responses_items() -> None:
    items = [
        {"role": "developer", "content": "sys"},
        {"role": "user", "content": [{"type": "input_text", "text": "q"},
                                     {"type": "input_image", "image_url": PNG}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
    ]  # fmt: skip
    body = params(responses(input=items, instructions="first", max_output_tokens=5))
    assert body["systemInstruction"] == {"parts": [{"text": "first"}, {"text": "sys"}]}
    assert body["contents"][1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "f", "args": {}}}],
    }
    assert body["contents"][2] == user(
        {"functionResponse": {"name": "f", "response": {"output": "ok"}}}
    )
    assert body["generationConfig"] == {"maxOutputTokens": 5}


# -- sampling, stop, logprobs -------------------------------------------------------


def test_sampling_and_penalties() -> None:
    body = params(
        chat(temperature=1.5, top_p=0.5, seed=3, presence_penalty=0.5, frequency_penalty=0)
    )
    assert body["generationConfig"] == {
        "temperature": 1.5,
        "topP": 0.5,
        "seed": 3,
        "presencePenalty": 0.5,
    }


def test_stop_and_logprobs() -> None:
    body = params(chat(stop="END", logprobs=True, top_logprobs=3))
    assert body["generationConfig"] == {
        "stopSequences": ["END"],
        "responseLogprobs": True,
        "logprobs": 3,
    }
    assert "generationConfig" not in params(chat(stop=[""], logprobs=False, n=1))


# -- tools and structured output ----------------------------------------------------


def tool(name: str = "lookup", **extra: Any) -> dict[str, Any]:
    fn = {"name": name, "description": "d", "parameters": {"type": "object"}, **extra}
    return {"type": "function", "function": fn}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (None, None),
        ("auto", None),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ({"type": "function", "function": {"name": "lookup"}},
         {"mode": "ANY", "allowedFunctionNames": ["lookup"]}),
    ],
)  # fmt: skip
def test_tools_and_tool_choice(choice: Any, config: Any) -> None:
    body = params(chat(tools=[tool(), tool("other")], tool_choice=choice))
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "lookup", "description": "d", "parametersJsonSchema": {"type": "object"}},
                {"name": "other", "description": "d", "parametersJsonSchema": {"type": "object"}},
            ]
        }
    ]
    assert body.get("toolConfig") == (None if config is None else {"functionCallingConfig": config})


def test_strict_tools_are_validated() -> None:
    body = params(chat(tools=[tool(strict=True)]))
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    request = responses(
        input="x",
        tools=[{"type": "function", "name": "f", "strict": True}],
        tool_choice={"type": "function", "name": "f"},
    )
    body = params(request)
    assert body["tools"] == [{"functionDeclarations": [{"name": "f"}]}]
    assert body["toolConfig"]["functionCallingConfig"] == {
        "mode": "ANY",
        "allowedFunctionNames": ["f"],
    }


def test_structured_outputs_from_parse() -> None:
    builder = BatchBuilder()
    built = builder.chat.completions.parse(
        custom_id="r1", model="gpt-4o-mini", messages=[USER], response_format=Sentiment
    )
    schema = built.body["response_format"]["json_schema"]["schema"]
    assert params(built)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    parsed = builder.responses.parse(
        custom_id="r2", model="gpt-4o-mini", input="x", text_format=Sentiment
    )
    body = to_generate_content(parsed, MODELS).body
    assert body["generationConfig"]["responseJsonSchema"] == schema


def test_json_object_and_text_formats() -> None:
    body = params(chat(response_format={"type": "json_object"}))
    assert body["generationConfig"] == {"responseMimeType": "application/json"}
    assert "generationConfig" not in params(chat(response_format={"type": "text"}))
    body = params(responses(input="x", text={"format": {"type": "json_object"}}))
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_left_out_parameters() -> None:
    body = params(
        chat(store=True, user="u1", safety_identifier="s", service_tier="auto", metadata={},
             logit_bias={}, parallel_tool_calls=True, stream=False, prompt_cache_key="k")
    )  # fmt: skip
    assert body == {"model": "gemini-2.5-flash", "contents": [user({"text": "hi"})]}


# -- refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "feature"),
    [
        (chat(n=2), "n=2"),
        (chat(logit_bias={"1": 2}), "logit_bias"),
        (chat(tools=[tool()], parallel_tool_calls=False), "parallel_tool_calls"),
        (chat(stop=["a", "b", "c", "d", "e", "f"]), "6 stop sequences"),
        (chat(reasoning_effort="low"), "reasoning_effort"),
        (chat(verbosity="low"), "verbosity"),
        (chat(audio={"voice": "x"}), "audio"),
        (chat(modalities=["text", "audio"]), "modalities"),
        (chat(prediction={"type": "content"}), "prediction"),
        (chat(web_search_options={}), "web_search_options"),
        (chat(functions=[{"name": "f"}]), "functions"),
        (chat(metadata={"a": "b"}), "metadata"),
        (chat(service_tier="flex"), "service_tier"),
        (chat(brand_new=1), "brand_new"),
        (chat(messages=[{"role": "user", "content": "x", "name": "bob"}]), "name"),
        (chat(messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}]}]), "web URL"),
        (chat(messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0"}}]}]), "gif"),
        (chat(messages=[{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {}}]}]), "input_audio"),
        (chat(messages=[{"role": "assistant", "content": "x"}, USER]), "starts with"),
        (chat(messages=[USER, {"role": "assistant", "content": "x"}]), "ends with"),
        (chat(messages=[USER, {"role": "assistant", "content": "x"},
                        {"role": "system", "content": "late"}, USER]), "after the first"),
        (chat(tools=[{"type": "custom", "custom": {}}]), "custom tool"),
        (chat(response_format={"type": "grammar"}), "grammar"),
        (responses(input="x", reasoning={"effort": "low"}), "reasoning"),
        (responses(input="x", previous_response_id="resp_1"), "previous_response_id"),
        (responses(input="x", tools=[{"type": "web_search"}]), "web_search tool"),
        (responses(input=[{"type": "reasoning", "summary": []}]), "'reasoning' input item"),
        (responses(input=[{"role": "user", "content": [
            {"type": "input_image", "file_id": "file-1"}]}]), "file_id"),
        (responses(input="x", text={"verbosity": "low"}), "verbosity"),
        (responses(input="x", truncation="auto"), "truncation"),
        (Request(custom_id="r1", url="/v1/embeddings", body={"model": "m", "input": "x"}),
         "/v1/embeddings"),
        (Request(custom_id="r1", url="/v1/messages", body={"model": "m"}), "/v1/messages"),
    ],
)  # fmt: skip
def test_untranslatable(request_: Request, feature: str) -> None:
    assert feature in refused(request_).message


def test_replayed_calls_for_gemini_3_are_refused() -> None:
    messages = [
        USER,
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "1"},
    ]
    request = chat(messages=messages)
    with pytest.raises(InputError, match="thought signature") as info:
        to_generate_content(request, {"gpt-4o-mini": "gemini-3-pro-preview"})
    assert info.value.rule == "untranslatable_feature"
    assert params(request)["model"] == "gemini-2.5-flash"  # a 2.5 model takes them


@pytest.mark.parametrize(
    ("request_", "what"),
    [
        (chat(messages=[]), "messages must be"),
        (chat(messages=[{"role": "system", "content": "only"}]), "no user content"),
        (chat(max_tokens=5, max_completion_tokens=6), "disagree"),
        (chat(max_tokens=0), "max tokens"),
        (chat(temperature=2.5), "temperature"),
        (chat(top_p=-1), "top_p"),
        (chat(seed="x"), "seed"),
        (chat(stop=3), "stop"),
        (chat(top_logprobs=2), "top_logprobs needs"),
        (chat(tool_choice="required"), "no tools"),
        (chat(messages=[USER, {"role": "tool", "tool_call_id": "nope", "content": "x"}]),
         "answers no earlier tool call"),
        (chat(messages=[USER, {"role": "assistant", "tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}]), "not JSON"),
        (chat(messages=[USER, {"role": "assistant", "tool_calls": [{"id": "c"}]}]), "KeyError"),
        (chat(response_format={"type": "json_schema", "json_schema": {}}), "JSON schema"),
        (Request(custom_id="r1", url=CHAT, body={"messages": [USER]}), "model must be"),
        (responses(input=3), "input must be"),
    ],
)  # fmt: skip
def test_malformed(request_: Request, what: str) -> None:
    assert what in refused(request_, "invalid_request").message
