"""Input validation without HTTP."""

from __future__ import annotations

import io

from emu_jsonl import chat_file, chat_row, jsonl
from hypothesis import given
from hypothesis import strategies as st

from batchport_emulator.validation import ValidationRules, read_row, validate_input

RULES = ValidationRules()


def check(data: bytes, endpoint: str = "/v1/chat/completions", **rules: object):
    return validate_input(io.BytesIO(data), endpoint=endpoint, rules=ValidationRules(**rules))  # type: ignore[arg-type]


def test_plan_indexes_rows_without_keeping_bodies() -> None:
    data = b"\n" + chat_file(3) + b"   \n"
    plan = check(data)
    assert plan.errors == []
    assert plan.total == 3
    assert plan.model == "gpt-4o-mini"
    fh = io.BytesIO(data)
    assert [read_row(fh, plan, i)["custom_id"] for i in range(3)] == ["r0", "r1", "r2"]


def test_limits_and_models() -> None:
    too_many = check(chat_file(5), max_requests=4)
    assert [(e.code, e.line) for e in too_many.errors] == [("invalid_request", None)]
    assert check(b"").errors[0].code == "empty_file"
    unknown = check(chat_file(2), models=frozenset({"gpt-4o"}))
    assert [(e.code, e.line) for e in unknown.errors] == [
        ("model_not_found", 1),
        ("model_not_found", 2),
    ]
    body = {"model": "text-embedding-3-small", "input": ["a", "b", "c"]}
    emb = jsonl(
        [
            {"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings", "body": body}
            for i in range(2)
        ]
    )
    assert check(emb, "/v1/embeddings", max_embedding_inputs=5).errors[0].code == (
        "invalid_request"
    )


def test_missing_body_fields_and_method() -> None:
    rows = [
        {**chat_row(0), "method": "GET"},
        {**chat_row(1), "body": {"messages": []}},
        {**chat_row(2), "body": {"model": "gpt-4o-mini"}},
        {**chat_row(3), "custom_id": 7},
    ]
    got = [(e.code, e.param, e.line) for e in check(jsonl(rows)).errors]
    assert got == [
        ("invalid_request", "method", 1),
        ("invalid_request", "body.model", 2),
        ("invalid_request", "body.messages", 3),
        ("invalid_request", "custom_id", 4),
    ]
    assert check(jsonl(rows)).errors[1].message == "Model parameter is required."


def test_error_list_is_capped() -> None:
    plan = check(b"x\n" * 50, max_errors=10)
    assert len(plan.errors) == 10
    assert plan.errors[-1].line == 10


@given(st.binary(max_size=400))
def test_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    plan = check(data)
    assert plan.errors or plan.total > 0
    for error in plan.errors:
        assert error.line is None or error.line >= 1
