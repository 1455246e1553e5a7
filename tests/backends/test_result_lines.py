"""Result-line parsing and streaming line splitting (both providers' shapes)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport.backends.base import Usage
from batchport.backends.results import (
    ResultRow,
    aiter_lines,
    aiter_result_rows,
    parse_result_line,
)
from batchport.errors import InputError

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
    row = parse_result_line(OPENAI_OK, source="output")
    assert row.custom_id == "request-1"
    assert row.status_code == 200
    assert row.ok
    assert row.error is None
    assert row.request_id == "req_123"
    assert row.id == "batch_req_6839f060cd048190ae368433d4361c3a"
    assert row.body is not None
    assert row.body["object"] == "chat.completion"
    assert row.raw == OPENAI_OK
    assert row.usage() == Usage(
        input_tokens=7, output_tokens=3, cached_tokens=2, reasoning_tokens=1
    )


def test_openai_http_error_line_lands_error_from_body() -> None:
    row = parse_result_line(OPENAI_404)
    assert row.source == "error"  # inferred
    assert row.status_code == 404
    assert not row.ok
    assert row.error is not None
    assert row.error.code == "model_not_found"
    assert row.error.type == "invalid_request_error"
    assert row.error.message == "The model does not exist"


def test_expired_row_has_no_status_code() -> None:
    row = parse_result_line(OPENAI_EXPIRED, source="error")
    assert row.status_code is None
    assert row.body is None
    assert not row.ok
    assert row.error is not None
    assert row.error.code == "batch_expired"
    assert row.usage() is None


def test_azure_line_without_id_keeps_content_filter_results() -> None:
    row = parse_result_line(AZURE_OK)
    assert row.id is None
    assert row.ok
    assert row.source == "output"
    assert row.body is not None
    assert row.body["choices"][0]["content_filter_results"]["hate"]["filtered"] is False
    assert row.usage() == Usage(input_tokens=5, output_tokens=1)


def test_azure_error_envelope_with_null_type() -> None:
    row = parse_result_line(AZURE_FILTERED)
    assert row.error is not None
    assert (row.error.code, row.error.type, row.error.param) == ("content_filter", None, "prompt")


def test_error_body_without_envelope_still_gives_an_error() -> None:
    line = b'{"custom_id":"a","response":{"status_code":503,"body":null},"error":null}'
    row = parse_result_line(line)
    assert row.error is not None
    assert row.error.code is None
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
def test_garbage_raises_input_error_with_rule(line: bytes, rule: str) -> None:
    with pytest.raises(InputError) as info:
        parse_result_line(line, path="file-abc", line=12)
    assert info.value.rule == rule
    assert str(info.value).startswith(f"file-abc:12: {rule}: ")


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _collect_lines(parts: list[bytes]) -> list[bytes]:
    return [line async for line in aiter_lines(_chunks(parts))]


async def test_rows_from_a_stream_report_line_numbers_and_skip_blank_lines() -> None:
    data = b"\xef\xbb\xbf" + OPENAI_OK + b"\n\n" + AZURE_OK + b"\r\n" + b"garbage\n"
    rows: list[ResultRow] = []

    async def consume() -> None:
        async for row in aiter_result_rows(_chunks([data[:50], data[50:]]), source="output"):
            rows.append(row)

    with pytest.raises(InputError) as info:
        await consume()
    assert [r.custom_id for r in rows] == ["request-1", "task-0"]
    assert info.value.line == 4
    assert info.value.rule == "result_invalid_json"


async def test_empty_azure_error_file_yields_no_rows() -> None:
    assert [r async for r in aiter_result_rows(_chunks([]), source="error")] == []
    assert [r async for r in aiter_result_rows(_chunks([b""]), source="error")] == []


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
    row = parse_result_line(raw)
    assert row.custom_id == obj["custom_id"]
    assert row.id == obj.get("id")
    assert row.raw == raw
    response = obj["response"]
    if response is None:
        assert row.status_code is None
        assert row.error is not None
        assert row.error.message == obj["error"]["message"]
        assert row.source == "error"
    else:
        assert row.status_code == response["status_code"]
        assert row.body == response["body"]
        assert row.request_id == response["request_id"]
        assert row.ok == (200 <= response["status_code"] < 300)
        assert (row.error is None) == row.ok
        assert row.source == ("output" if row.ok else "error")


@given(raw=st.binary(max_size=200) | st.from_regex(rb"\{.*\}", fullmatch=True))
def test_parser_never_raises_anything_but_input_error(raw: bytes) -> None:
    rule: str | None = None
    try:
        row = parse_result_line(raw)
    except InputError as exc:
        rule = exc.rule or "missing"
    else:
        assert row.custom_id
    assert rule is None or rule.startswith("result_")
