"""Gemini result items, answers and operations, judged into neutral rows and jobs."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport.backends.gemini import STATUS_MAP, job_from_operation
from batchport.backends.gemini.results import parse_item, parse_line, row_from_answer, usage_of
from batchport.backends.models import JobStatus, Outcome
from batchport.errors import ResultLineError


def _response(finish: str | None = "STOP", text: str = "hi") -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
    if finish is not None:
        cand["finishReason"] = finish
    return {
        "candidates": [cand],
        "usageMetadata": {
            "promptTokenCount": 100,
            "cachedContentTokenCount": 40,
            "candidatesTokenCount": 7,
            "thoughtsTokenCount": 3,
            "totalTokenCount": 110,
        },
    }


@pytest.mark.parametrize(
    ("finish", "outcome", "retryable"),
    [
        ("STOP", Outcome.SUCCEEDED, False),
        (None, Outcome.SUCCEEDED, False),
        ("MAX_TOKENS", Outcome.TRUNCATED, False),
        ("SAFETY", Outcome.CONTENT_FILTERED, False),
        ("RECITATION", Outcome.CONTENT_FILTERED, False),
        ("MALFORMED_FUNCTION_CALL", Outcome.FAILED, True),
    ],
)
def test_a_response_is_judged_by_its_finish_reason(
    finish: str | None, outcome: Outcome, retryable: bool
) -> None:
    item = {"response": _response(finish), "metadata": {"key": "r:1"}}
    row = parse_item(item, raw=orjson.dumps(item), source="batches/1", line=2)
    assert (row.custom_id, row.outcome, row.retryable) == ("r:1", outcome, retryable)
    assert row.status_code == 200 and row.text == "hi" and row.body_path == ("response",)
    assert row.usage is not None
    assert (row.usage.input_tokens, row.usage.cached_tokens) == (100, 40)
    assert (row.usage.output_tokens, row.usage.reasoning_tokens) == (10, 3)


def test_file_lines_carry_the_key_at_the_top() -> None:
    row = parse_line(orjson.dumps({"key": "k-9", "response": _response()}), line=1)
    assert row.custom_id == "k-9" and row.ok


@pytest.mark.parametrize(
    ("code", "http", "retryable"),
    [(3, 400, False), (8, 429, True), (13, 500, True), (14, 503, True), (7, 403, False),
     (429, 429, True), (500, 500, True)],
)  # fmt: skip
def test_an_error_keeps_its_status_and_is_retried_only_when_transient(
    code: int, http: int, retryable: bool
) -> None:
    err = {"code": code, "message": "nope", "status": "SOMETHING"}
    row = parse_line(orjson.dumps({"key": "a", "error": err}))
    assert row.outcome is Outcome.FAILED
    assert (row.status_code, row.retryable) == (http, retryable)
    assert row.error is not None and row.error.message == "nope"


@pytest.mark.parametrize("inline", [False, True])
def test_a_row_its_batch_cancel_stopped_is_cancelled_as_on_every_provider(inline: bool) -> None:
    """google.rpc code 1 (CANCELLED): the row never ran because its batch was
    cancelled; ``cancelled`` / ``batch_cancelled`` as OpenAI's and Anthropic's rows, and
    not retried by the backend's verdict (the runner decides for its own cancels)."""
    err = {"code": 1, "message": "Batch was cancelled.", "status": "CANCELLED"}
    row = (
        parse_item({"error": err, "metadata": {"key": "a"}})
        if inline
        else parse_line(orjson.dumps({"key": "a", "error": err}))
    )
    assert row.outcome is Outcome.CANCELLED and not row.retryable
    assert row.error is not None
    assert (row.error.code, row.error.message) == ("batch_cancelled", "Batch was cancelled.")


def test_a_blocked_prompt_without_candidates_is_content_filtered() -> None:
    item = {"key": "a", "response": {"promptFeedback": {"blockReason": "SAFETY"}}}
    row = parse_item(item)
    assert row.outcome is Outcome.CONTENT_FILTERED
    assert row.error is not None and row.error.code == "SAFETY"


@pytest.mark.parametrize(
    ("item", "rule"),
    [
        ([1], "result_not_object"),
        ({"response": {}}, "result_missing_key"),
        ({"key": "a"}, "result_no_outcome"),
    ],
)
def test_unreadable_items_name_their_rule(item: object, rule: str) -> None:
    with pytest.raises(ResultLineError) as err:
        parse_item(item, source="batches/9", line=3)
    assert err.value.rule == rule and err.value.line == 3


@given(st.binary(max_size=200))
def test_any_bytes_give_a_row_or_a_result_line_error(raw: bytes) -> None:
    with contextlib.suppress(ResultLineError):
        parse_line(raw)


def test_thoughts_are_not_text_and_usage_needs_an_object() -> None:
    resp = _response()
    resp["candidates"][0]["content"]["parts"].insert(0, {"text": "thinking", "thought": True})
    assert parse_item({"key": "a", "response": resp}).text == "hi"
    assert usage_of(None) is None
    assert usage_of({"promptTokenCount": "12"}) is not None


def test_realtime_answers() -> None:
    assert row_from_answer("a", 200, _response()).ok
    busy = row_from_answer("a", 429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}})
    assert busy.retryable and busy.status_code == 429
    assert row_from_answer("a", None, None).retryable


def _op(state: str, **meta: Any) -> dict[str, Any]:
    return {
        "name": "batches/123",
        "metadata": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "name": "batches/123",
            "displayName": "run.s0000.0",
            "createTime": "2026-12-07T04:13:24.263450184Z",
            "state": state,
            **meta,
        },
    }


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("BATCH_STATE_PENDING", JobStatus.VALIDATING),
        ("BATCH_STATE_RUNNING", JobStatus.IN_PROGRESS),
        ("BATCH_STATE_SUCCEEDED", JobStatus.COMPLETED),
        ("BATCH_STATE_FAILED", JobStatus.FAILED),
        ("BATCH_STATE_CANCELLED", JobStatus.CANCELLED),
        ("BATCH_STATE_EXPIRED", JobStatus.EXPIRED),
        ("JOB_STATE_PARTIALLY_SUCCEEDED", JobStatus.COMPLETED),
        ("BATCH_STATE_SOMETHING_NEW", JobStatus.UNKNOWN),
    ],
)
def test_states_map_and_unknown_ones_are_unknown(state: str, status: JobStatus) -> None:
    assert job_from_operation(_op(state)).status is status


def test_operation_counts_refs_and_times() -> None:
    stats = {"requestCount": "4", "successfulRequestCount": "1", "failedRequestCount": "2",
             "pendingRequestCount": "1"}  # fmt: skip
    job = job_from_operation(_op("BATCH_STATE_RUNNING", batchStats=stats))
    assert (job.id, job.counts.total, job.counts.completed, job.counts.failed) == (
        "batches/123", 4, 1, 2)  # fmt: skip
    assert job.created_at is not None and job.expires_at == job.created_at + 48 * 3600
    assert job.metadata["display_name"] == "run.s0000.0"
    done = job_from_operation(_op("BATCH_STATE_SUCCEEDED", output={"responsesFile": "files/x"}))
    assert done.refs == {"responses_file": "files/x"}
    inline = _op("BATCH_STATE_SUCCEEDED", output={"inlinedResponses": {"inlinedResponses": []}})
    assert job_from_operation(inline).refs == {"inline": "1"}
    failed = {**_op("BATCH_STATE_FAILED"), "error": {"code": 3, "status": "INVALID_ARGUMENT",
                                                     "message": "bad file"}}  # fmt: skip
    assert [(e.code, e.message) for e in job_from_operation(failed).errors] == [
        ("INVALID_ARGUMENT", "bad file")
    ]
    assert set(STATUS_MAP) >= {"BATCH_STATE_RUNNING", "JOB_STATE_RUNNING"}
