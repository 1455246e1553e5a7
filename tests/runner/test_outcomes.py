from __future__ import annotations

import pytest

from batchport.runner.outcomes import Outcome, classify


def _chat(**choice: object) -> dict[str, object]:
    base = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "{}"}}
    return {"object": "chat.completion", "choices": [{**base, **choice}]}


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(429, True), (500, True), (503, True), (408, True), (400, False), (404, False)],
)
def test_http_failures(status: int, retryable: bool) -> None:
    body = {"error": {"message": "m", "type": "t", "param": None, "code": "c"}}
    v = classify(status, body)
    assert (v.outcome, v.retryable, v.error_code, v.error_message) == (
        Outcome.FAILED,
        retryable,
        "c",
        "m",
    )


def test_unexecuted_rows() -> None:
    assert classify(None, None, "batch_expired", "late").outcome is Outcome.EXPIRED
    assert classify(None, None, "batch_expired").retryable
    assert not classify(None, None, "batch_cancelled").retryable
    assert classify(None, None, "batch_cancelled", cancelled_by_runner=True).retryable


def test_chat_success_variants() -> None:
    assert classify(200, _chat()).outcome is Outcome.SUCCEEDED
    assert classify(200, _chat(finish_reason="length")).outcome is Outcome.TRUNCATED
    assert classify(200, _chat(finish_reason="content_filter")).outcome is Outcome.CONTENT_FILTERED
    refusal = _chat(message={"role": "assistant", "content": None, "refusal": "no"})
    assert classify(200, refusal).outcome is Outcome.REFUSED


def test_responses_variants() -> None:
    ok = {"object": "response", "status": "completed", "output": []}
    assert classify(200, ok).outcome is Outcome.SUCCEEDED
    trunc = {**ok, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    assert classify(200, trunc).outcome is Outcome.TRUNCATED
    filt = {**ok, "status": "incomplete", "incomplete_details": {"reason": "content_filter"}}
    assert classify(200, filt).outcome is Outcome.CONTENT_FILTERED
    refused = {
        **ok,
        "output": [{"type": "message", "content": [{"type": "refusal", "refusal": "no"}]}],
    }
    assert classify(200, refused).outcome is Outcome.REFUSED


def test_embeddings_success() -> None:
    assert classify(200, {"object": "list", "data": []}).outcome is Outcome.SUCCEEDED
