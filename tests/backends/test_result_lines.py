"""OpenAI/Azure result lines judged into rows, synchronous answers judged alike, and
streaming line splitting."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport.backends.lines import aiter_lines
from batchport.backends.models import Outcome, Usage
from batchport.backends.openai import output_text, parse_line, row_from_response
from batchport.errors import ResultLineError

OPENAI_OK = (
    b'{"id":"batch_req_6839f060cd048190ae368433d4361c3a","custom_id":"request-1",'
    b'"response":{"status_code":200,"request_id":"req_123","body":{"id":"chatcmpl-1",'
    b'"object":"chat.completion","choices":[],"usage":{"prompt_tokens":7,'
    b'"completion_tokens":3,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":2},'
    b'"completion_tokens_details":{"reasoning_tokens":1}}}},"error":null}'
)
OPENAI_404 = (
    b'{"id":"batch_req_69d5","custom_id":"20260318_0","response":{"status_code":404,'
    b'"request_id":"465a86c2-ef40","body":{"error":{"message":"The model does not exist",'
    b'"type":"invalid_request_error","param":null,"code":"model_not_found"}}},"error":null}'
)
OPENAI_EXPIRED = (
    b'{"id":"batch_req_1","custom_id":"r9","response":null,"error":{"code":"batch_expired",'
    b'"message":"This request could not be executed before the completion window expired."}}'
)
AZURE_OK = (
    b'{"custom_id":"task-0","response":{"body":{"choices":[{"content_filter_results":'
    b'{"hate":{"filtered":false,"severity":"safe"}},"finish_reason":"stop","index":0,'
    b'"message":{"content":"hi","role":"assistant"}}],"model":"gpt-4o-2024-05-13",'
    b'"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"jailbreak":'
    b'{"filtered":false,"detected":false}}}],"usage":{"prompt_tokens":5,'
    b'"completion_tokens":1}},"request_id":"0b6f-uuid","status_code":200},"error":null}'
)
AZURE_FILTERED = (
    b'{"custom_id":"task-1","response":{"status_code":400,"request_id":"r","body":{"error":'
    b'{"code":"content_filter","message":"The response was filtered","param":"prompt",'
    b'"type":null,"status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}},'
    b'"error":null}'
)


def test_openai_success_line() -> None:
    row = parse_line(OPENAI_OK, source="file-out", line=3)
    assert row.custom_id == "request-1"
    assert (row.outcome, row.retryable, row.status_code, row.error) == (
        Outcome.SUCCEEDED,
        False,
        200,
        None,
    )
    assert row.ok
    assert (row.source, row.line) == ("file-out", 3)
    assert row.body is not None
    assert row.body["object"] == "chat.completion"
    assert row.raw == OPENAI_OK
    assert row.body_path == ("response", "body")
    assert orjson.loads(row.raw)["response"]["body"] == row.body
    assert row.usage == Usage(input_tokens=7, output_tokens=3, cached_tokens=2, reasoning_tokens=1)


def test_openai_http_error_line_lands_error_from_body() -> None:
    row = parse_line(OPENAI_404)
    assert row.status_code == 404
    assert (row.outcome, row.retryable) == (Outcome.FAILED, False)
    assert not row.ok
    assert row.error is not None
    assert row.error.code == "model_not_found"
    assert row.error.type == "invalid_request_error"
    assert row.error.message == "The model does not exist"


def test_expired_row_has_no_status_code_and_is_retryable() -> None:
    row = parse_line(OPENAI_EXPIRED)
    assert row.status_code is None
    assert row.body is None
    assert (row.outcome, row.retryable) == (Outcome.EXPIRED, True)
    assert row.error is not None
    assert row.error.code == "batch_expired"
    assert row.usage is None
    assert row.body_path == ()


def test_azure_line_without_id_keeps_content_filter_results() -> None:
    row = parse_line(AZURE_OK)
    assert row.ok
    assert row.text == "hi"
    assert row.body is not None
    assert row.body["choices"][0]["content_filter_results"]["hate"]["filtered"] is False
    assert row.usage == Usage(input_tokens=5, output_tokens=1)


def test_azure_error_envelope_with_null_type() -> None:
    row = parse_line(AZURE_FILTERED)
    assert (row.outcome, row.retryable) == (Outcome.FAILED, False)
    assert row.error is not None
    assert (row.error.code, row.error.type, row.error.param) == ("content_filter", None, "prompt")


def test_error_body_without_envelope_still_gives_an_error() -> None:
    line = b'{"custom_id":"a","response":{"status_code":503,"body":null},"error":null}'
    row = parse_line(line)
    assert (row.outcome, row.retryable) == (Outcome.FAILED, True)
    assert row.error is not None
    assert row.error.code == "http_503"
    assert "503" in row.error.message


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        (b"{not json", "result_invalid_json"),
        (b"[1, 2]", "result_not_object"),
        (b'{"response":null,"error":{"code":"x","message":"m"}}', "result_missing_custom_id"),
        (b'{"custom_id":"","error":{"code":"x","message":"m"}}', "result_missing_custom_id"),
        (b'{"custom_id":7,"error":{"code":"x","message":"m"}}', "result_missing_custom_id"),
        (b'{"custom_id":"a","response":[],"error":null}', "result_bad_response"),
        (b'{"custom_id":"a","response":{"status_code":"200"}}', "result_bad_response"),
        (b'{"custom_id":"a","response":{"status_code":true}}', "result_bad_response"),
        (b'{"custom_id":"a","response":{"status_code":200,"body":"x"}}', "result_bad_response"),
        (b'{"custom_id":"a","response":null,"error":"boom"}', "result_bad_error"),
        (b'{"custom_id":"a","response":null,"error":{"code":"x"}}', "result_bad_error"),
        (b'{"custom_id":"a","response":null,"error":null}', "result_no_outcome"),
        (b'{"custom_id":"a"}', "result_no_outcome"),
    ],
)
def test_garbage_raises_result_line_error_with_rule(line: bytes, rule: str) -> None:
    with pytest.raises(ResultLineError) as info:
        parse_line(line, source="file-abc", line=12)
    assert (info.value.rule, info.value.source, info.value.line) == (rule, "file-abc", 12)
    assert f"file-abc:12: {rule}: " in str(info.value)
    assert info.value.retryable


def _chat(finish: str = "stop", **message: Any) -> dict[str, Any]:
    msg = {"role": "assistant", "content": "hello", **message}
    return {"object": "chat.completion", "choices": [{"message": msg, "finish_reason": finish}]}


def _response(status: str = "completed", reason: str | None = None, *parts: Any) -> Any:
    content = list(parts) or [
        {"type": "output_text", "text": "hel"},
        {"type": "output_text", "text": "lo"},
    ]
    body: dict[str, Any] = {
        "object": "response",
        "status": status,
        "output": [{"type": "message", "content": content}],
        "usage": {
            "input_tokens": 4,
            "output_tokens": 2,
            "input_tokens_details": {"cached_tokens": 1},
        },
    }
    if reason is not None:
        body["incomplete_details"] = {"reason": reason}
    return body


@pytest.mark.parametrize(
    ("body", "outcome", "code", "text"),
    [
        (_chat(), Outcome.SUCCEEDED, None, "hello"),
        (_chat(refusal="I can't"), Outcome.REFUSED, "refusal", "hello"),
        (_chat("length"), Outcome.TRUNCATED, "length", "hello"),
        (_chat("content_filter"), Outcome.CONTENT_FILTERED, "content_filter", "hello"),
        (
            {"choices": [{"text": "legacy", "finish_reason": "stop"}]},
            Outcome.SUCCEEDED,
            None,
            "legacy",
        ),
        (_response(), Outcome.SUCCEEDED, None, "hello"),
        (
            _response("incomplete", "max_output_tokens"),
            Outcome.TRUNCATED,
            "max_output_tokens",
            "hello",
        ),
        (
            _response("incomplete", "content_filter"),
            Outcome.CONTENT_FILTERED,
            "content_filter",
            "hello",
        ),
        (
            _response("completed", None, {"type": "refusal", "refusal": "no"}),
            Outcome.REFUSED,
            "refusal",
            None,
        ),
        ({"object": "list", "data": [{"embedding": [0.1]}]}, Outcome.SUCCEEDED, None, None),
    ],
)
def test_2xx_verdicts_and_text(
    body: dict[str, Any], outcome: Outcome, code: str | None, text: str | None
) -> None:
    row = row_from_response("r", 200, body)
    assert (row.outcome, row.retryable, row.text) == (outcome, False, text)
    assert (row.error.code if row.error else None) == code
    assert output_text(body) == text


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (404, False), (408, True), (409, True), (422, False),
     (429, True), (500, True), (502, True), (529, True)],
)  # fmt: skip
def test_http_failures_are_retryable_by_status(status: int, retryable: bool) -> None:
    body = {"error": {"message": "nope", "type": "invalid_request_error", "code": None}}
    row = row_from_response("r", status, body)
    assert (row.outcome, row.retryable, row.status_code) == (Outcome.FAILED, retryable, status)
    assert row.error is not None
    assert (row.error.code, row.error.message) == ("invalid_request_error", "nope")


@pytest.mark.parametrize(
    ("code", "outcome", "retryable"),
    [
        ("batch_expired", Outcome.EXPIRED, True),
        ("batch_cancelled", Outcome.CANCELLED, False),
        ("something_else", Outcome.FAILED, False),
        (None, Outcome.FAILED, False),
    ],
)
def test_rows_that_never_ran(code: str | None, outcome: Outcome, retryable: bool) -> None:
    raw = orjson.dumps(
        {"custom_id": "r", "response": None, "error": {"code": code, "message": "m"}}
    )
    row = parse_line(raw)
    assert (row.outcome, row.retryable, row.status_code) == (outcome, retryable, None)
    assert row.error is not None and row.error.code == (code or "unknown_error")


def test_no_answer_is_a_retryable_connection_error() -> None:
    row = row_from_response("r", None, None)
    assert (row.outcome, row.retryable, row.status_code) == (Outcome.FAILED, True, None)
    assert row.error is not None and row.error.code == "connection_error"
    assert orjson.loads(row.raw)["error"]["code"] == "connection_error"


def test_a_sync_answer_keeps_a_batch_line_as_raw() -> None:
    body = _response()
    row = row_from_response("r", 200, body, source="realtime", line=7)
    assert orjson.loads(row.raw) == {
        "custom_id": "r",
        "response": {"status_code": 200, "body": body},
        "error": None,
    }
    assert (row.source, row.line, row.body_path) == ("realtime", 7, ("response", "body"))
    assert row.usage == Usage(input_tokens=4, output_tokens=2, cached_tokens=1)
    assert row_from_response("r", 200, ["not", "an", "object"]).body is None


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _collect_lines(parts: list[bytes]) -> list[bytes]:
    return [line async for line in aiter_lines(_chunks(parts))]


async def test_a_line_straddling_many_chunks() -> None:
    line = b"x" * 1000
    parts = [line[i : i + 7] for i in range(0, 1000, 7)] + [b"\nlast"]
    assert await _collect_lines(parts) == [line, b"last"]


# --- property tests -------------------------------------------------------------

_line = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


@given(
    lines=st.lists(_line, min_size=1, max_size=20),
    crlf=st.booleans(),
    trailing=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
async def test_splitter_recovers_lines_for_any_chunking(
    lines: list[bytes], crlf: bool, trailing: bool, cuts: list[int]
) -> None:
    sep = b"\r\n" if crlf else b"\n"
    data = sep.join(lines) + (sep if trailing else b"")
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    parts = [data[a:b] for a, b in itertools.pairwise(bounds)]
    expected = list(lines)
    if not trailing and expected[-1] == b"":
        expected.pop()  # a final empty line without a terminator is no line at all
    assert await _collect_lines(parts) == expected


_text = st.text(max_size=20)
_json_scalar = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _text
_body = st.dictionaries(_text, _json_scalar, max_size=4)


@st.composite
def result_lines(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {"custom_id": draw(_text.filter(bool))}
    if draw(st.booleans()):
        obj["id"] = "batch_req_" + draw(st.text("0123456789abcdef", min_size=1, max_size=32))
    if draw(st.booleans()):
        obj["response"] = {
            "status_code": draw(st.integers(100, 599)),
            "request_id": draw(st.none() | _text),
            "body": draw(st.none() | _body),
        }
        obj["error"] = None
    else:
        obj["response"] = None
        obj["error"] = {"code": draw(st.none() | _text), "message": draw(_text)}
    return obj


@given(obj=result_lines())
def test_parser_round_trips_valid_lines(obj: dict[str, Any]) -> None:
    raw = orjson.dumps(obj)
    row = parse_line(raw, source="f", line=1)
    assert row.custom_id == obj["custom_id"]
    assert row.raw == raw
    response = obj["response"]
    if response is None:
        assert row.status_code is None
        assert row.error is not None
        assert row.error.message == obj["error"]["message"]
        assert row.outcome in (Outcome.EXPIRED, Outcome.CANCELLED, Outcome.FAILED)
        assert row.retryable == (row.outcome is Outcome.EXPIRED)
    else:
        status = response["status_code"]
        assert row.status_code == status
        assert row.body == response["body"]
        assert row.body_path == ("response", "body")
        if 200 <= status < 300:
            assert row.outcome is not Outcome.FAILED and not row.retryable
            assert (row.error is None) == row.ok
        else:
            assert row.outcome is Outcome.FAILED
            assert row.error is not None and row.error.code
            assert row.retryable == (status in (408, 409, 429) or status >= 500)
    # a synchronous answer is judged exactly as its batch line
    again = row_from_response(row.custom_id, row.status_code, row.body, source="f", line=1)
    if response is not None:
        assert (again.outcome, again.retryable, again.error) == (
            row.outcome,
            row.retryable,
            row.error,
        )


@given(raw=st.binary(max_size=200) | st.from_regex(rb"\{.*\}", fullmatch=True))
def test_parser_never_raises_anything_but_result_line_error(raw: bytes) -> None:
    rule: str | None = None
    try:
        row = parse_line(raw)
    except ResultLineError as exc:
        rule = exc.rule or "missing"
    else:
        assert row.custom_id
    assert rule is None or rule.startswith("result_")


def test_usage_reads_both_detail_spellings() -> None:
    chat = {
        "object": "chat.completion",
        "choices": [],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }
    resp = {"object": "response", "status": "completed", "output": [],
            "usage": {"input_tokens": 10, "output_tokens": 4,
                      "input_tokens_details": {"cached_tokens": 3},
                      "output_tokens_details": {"reasoning_tokens": 2}}}  # fmt: skip
    for body in (chat, resp):
        usage = row_from_response("r1", 200, body).usage
        assert usage is not None
        assert (usage.input_tokens, usage.output_tokens) == (10, 4)
        assert (usage.cached_tokens, usage.reasoning_tokens) == (3, 2)
