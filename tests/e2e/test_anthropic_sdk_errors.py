"""The ``anthropic`` SDK against the emulator's refusals and its realtime Messages API:
create-time envelope checks, the missing ``anthropic-version``, 413, auth, 429 with
``retry-after``, and ``messages.create`` / ``messages.parse`` answers (markers, tools,
structured output), each parsed by the SDK's own types and exception classes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from anthropic import (
    Anthropic,
    AuthenticationError,
    BadRequestError,
    OverloadedError,
    RateLimitError,
    RequestTooLargeError,
)
from pydantic import BaseModel

from batchport_emulator import EmulatorThread

KEY = "sk-ant-errors"


class Review(BaseModel):
    sentiment: str
    score: int


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    config = {"api_keys": [KEY], "anthropic": {"max_request_bytes": 64 * 1024}}
    with EmulatorThread(config) as emu:
        yield emu


@pytest.fixture
def c(emulator: EmulatorThread) -> Iterator[Anthropic]:
    with Anthropic(base_url=emulator.url, api_key=KEY, max_retries=0) as client:
        yield client


def req(custom_id: str, text: str = "hi") -> dict[str, Any]:
    messages = [{"role": "user", "content": text}]
    params = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": messages}
    return {"custom_id": custom_id, "params": params}


def refusal(c: Anthropic, requests: list[Any]) -> dict[str, Any]:
    with pytest.raises(BadRequestError) as err:
        c.messages.batches.create(requests=requests)
    assert err.value.request_id is not None and err.value.request_id.startswith("req_011C")
    assert err.value.response.headers["request-id"] == err.value.request_id
    body: dict[str, Any] = err.value.body  # type: ignore[assignment]
    assert body["type"] == "error" and body["request_id"] == err.value.request_id
    assert body["error"]["type"] == "invalid_request_error"
    return body


def test_custom_id_longer_than_64_is_refused_at_create(c: Anthropic) -> None:
    body = refusal(c, [req("a" * 64), req("b" * 65)])
    assert (
        body["error"]["message"] == "requests.1.custom_id: String should have at most 64 characters"
    )


def test_custom_id_pattern_duplicates_and_count(c: Anthropic) -> None:
    pattern = refusal(c, [req("review:42.a")])["error"]["message"]
    assert pattern.startswith("requests.0.custom_id: String should match pattern")
    duplicate = refusal(c, [req("x"), req("y"), req("x")])["error"]["message"]
    assert duplicate.startswith("requests.2.custom_id: ")
    empty = refusal(c, [])["error"]["message"]
    assert empty == "requests: List should have at least 1 item after validation, not 0"
    assert c.messages.batches.list().data == []  # nothing was created


def test_missing_anthropic_version_is_a_400(emulator: EmulatorThread) -> None:
    plain = urllib.request.Request(
        f"{emulator.url}/v1/messages/batches", headers={"x-api-key": KEY}
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(plain, timeout=10)
    assert answer.value.code == 400
    body = json.loads(answer.value.read())
    answer.value.close()
    assert body["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    assert body["request_id"] == answer.value.headers["request-id"]


def test_auth_by_x_api_key_or_bearer(emulator: EmulatorThread) -> None:
    bad = Anthropic(base_url=emulator.url, api_key="wrong", max_retries=0)
    with bad, pytest.raises(AuthenticationError) as err:
        bad.messages.batches.list()
    assert err.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with Anthropic(base_url=emulator.url, auth_token=KEY, max_retries=0) as bearer:
        assert bearer.messages.batches.list().has_more is False


def test_body_over_the_cap_is_413(c: Anthropic) -> None:
    with pytest.raises(RequestTooLargeError) as err:
        c.messages.batches.create(requests=[req(f"r{i}", "x" * 1000) for i in range(80)])
    assert err.value.status_code == 413
    assert err.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


def test_realtime_message_and_markers(c: Anthropic) -> None:
    message = c.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=128,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"
    assert message.usage.cache_creation_input_tokens == 0
    assert message._request_id is not None and message._request_id.startswith("req_011C")
    refused = c.messages.create(
        model="claude-sonnet-4-5", max_tokens=64,
        messages=[{"role": "user", "content": "[[emulator:refuse]]"}],
    )  # fmt: skip
    assert refused.stop_reason == "refusal"
    cut = c.messages.create(
        model="claude-sonnet-4-5", max_tokens=64,
        messages=[{"role": "user", "content": "[[emulator:truncate]]"}],
    )  # fmt: skip
    assert cut.stop_reason == "max_tokens"
    with pytest.raises(OverloadedError) as err:
        c.messages.create(
            model="claude-sonnet-4-5", max_tokens=64,
            messages=[{"role": "user", "content": "[[emulator:status=529]]"}],
        )  # fmt: skip
    assert err.value.status_code == 529
    assert err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(BadRequestError):
        c.messages.create(model="claude-sonnet-4-5", max_tokens=0, messages=[])


def test_realtime_structured_output_and_tools(c: Anthropic) -> None:
    parsed = c.messages.parse(
        model="claude-sonnet-4-5",
        max_tokens=512,
        messages=[{"role": "user", "content": "Great phone"}],
        output_format=Review,
    )
    assert isinstance(parsed.parsed_output, Review)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
              "additionalProperties": False}  # fmt: skip
    raw = c.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=512,
        messages=[{"role": "user", "content": "count"}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert raw.content[0].type == "text"
    assert isinstance(json.loads(raw.content[0].text)["n"], int)
    tool = c.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=512,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"name": "get_weather", "input_schema": schema}],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert tool.stop_reason == "tool_use"
    block = tool.content[0]
    assert block.type == "tool_use" and block.name == "get_weather"
    assert isinstance(block.input, dict) and isinstance(block.input["n"], int)


def test_rate_limits_answer_429_with_retry_after() -> None:
    ask: Any = {
        "model": "claude-x",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "a"}],
    }
    limited = {"realtime": {"rpm": 1}, "clock": {"scale": 0}}
    with (
        EmulatorThread(limited) as emu,
        Anthropic(base_url=emu.url, api_key="k", max_retries=0) as c,
    ):
        c.messages.create(**ask)
        with pytest.raises(RateLimitError) as err:
            c.messages.create(**ask)
        assert int(err.value.response.headers["retry-after"]) >= 1
        assert err.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
        emu.configure({"faults": {"api_error_rate": 1.0, "api_error_kinds": ["429"]}})
        with pytest.raises(RateLimitError) as fault:
            c.messages.batches.list()
        assert "retry-after" in fault.value.response.headers
