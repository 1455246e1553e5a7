"""How the OpenAI backend judges a result (batch line or synchronous answer)."""

from __future__ import annotations

import orjson
import pytest

from batchport.backends.models import Outcome, ResultRow
from batchport.backends.openai.results import parse_line, row_from_response


def _chat(**choice: object) -> dict[str, object]:
    base = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "{}"}}
    return {"object": "chat.completion", "choices": [{**base, **choice}]}


def judge(status: int, body: object) -> ResultRow:
    return row_from_response("r1", status, body)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(429, True), (500, True), (503, True), (408, True), (400, False), (404, False)],
)
def test_http_failures(status: int, retryable: bool) -> None:
    row = judge(status, {"error": {"message": "m", "type": "t", "param": None, "code": "c"}})
    assert (row.outcome, row.retryable) == (Outcome.FAILED, retryable)
    assert row.error is not None
    assert (row.error.code, row.error.message) == ("c", "m")


def _unrun(code: str) -> ResultRow:
    line = {"custom_id": "r1", "response": None, "error": {"code": code, "message": "late"}}
    return parse_line(orjson.dumps(line), source="file-err", line=3)


def test_unexecuted_rows() -> None:
    expired = _unrun("batch_expired")
    assert (expired.outcome, expired.retryable) == (Outcome.EXPIRED, True)
    assert (expired.source, expired.line) == ("file-err", 3)
    cancelled = _unrun("batch_cancelled")
    # whether a cancelled row is worth another try is the runner's call (its own
    # stall cancel), never the provider's
    assert (cancelled.outcome, cancelled.retryable) == (Outcome.CANCELLED, False)


def test_no_answer_is_a_retryable_failure() -> None:
    row = row_from_response("r1", None, None)
    assert (row.outcome, row.retryable) == (Outcome.FAILED, True)
    assert row.error is not None and row.error.code == "connection_error"


def test_chat_success_variants() -> None:
    assert judge(200, _chat()).outcome is Outcome.SUCCEEDED
    assert judge(200, _chat()).text == "{}"
    assert judge(200, _chat(finish_reason="length")).outcome is Outcome.TRUNCATED
    assert judge(200, _chat(finish_reason="content_filter")).outcome is Outcome.CONTENT_FILTERED
    refusal = _chat(message={"role": "assistant", "content": None, "refusal": "no"})
    assert judge(200, refusal).outcome is Outcome.REFUSED


def test_responses_variants() -> None:
    ok = {"object": "response", "status": "completed", "output": []}
    assert judge(200, ok).outcome is Outcome.SUCCEEDED
    trunc = {**ok, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    assert judge(200, trunc).outcome is Outcome.TRUNCATED
    filt = {**ok, "status": "incomplete", "incomplete_details": {"reason": "content_filter"}}
    assert judge(200, filt).outcome is Outcome.CONTENT_FILTERED
    refused = {
        **ok,
        "output": [{"type": "message", "content": [{"type": "refusal", "refusal": "no"}]}],
    }
    assert judge(200, refused).outcome is Outcome.REFUSED


def test_embeddings_success() -> None:
    assert judge(200, {"object": "list", "data": []}).outcome is Outcome.SUCCEEDED


def test_usage_reads_both_detail_spellings() -> None:
    chat = {**_chat(), "usage": {"prompt_tokens": 10, "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2}}}  # fmt: skip
    resp = {"object": "response", "status": "completed", "output": [],
            "usage": {"input_tokens": 10, "output_tokens": 4,
                      "input_tokens_details": {"cached_tokens": 3},
                      "output_tokens_details": {"reasoning_tokens": 2}}}  # fmt: skip
    for body in (chat, resp):
        usage = judge(200, body).usage
        assert usage is not None
        assert (usage.input_tokens, usage.output_tokens) == (10, 4)
        assert (usage.cached_tokens, usage.reasoning_tokens) == (3, 2)
