"""Anthropic's provider-safe ids and result-line verdicts."""

from __future__ import annotations

import contextlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport.backends.anthropic.ids import MARK, PATTERN, fits, shard_tag, wire_id
from batchport.backends.anthropic.results import parse_line, row_from_answer, usage_of
from batchport.backends.models import Outcome
from batchport.errors import ResultLineError

TAG = shard_tag("run-1", "s0000")


@given(st.lists(st.text(min_size=1, max_size=90), min_size=1, max_size=40, unique=True))
def test_wire_ids_are_safe_unique_and_keep_ids_that_fit(ids: list[str]) -> None:
    wired = [wire_id(TAG, cid, pos) for pos, cid in enumerate(ids, 1)]
    assert all(PATTERN.fullmatch(w) for w in wired)
    assert len(set(wired)) == len(ids)
    for cid, w in zip(ids, wired, strict=True):
        assert (w == cid) == (fits(cid) and not cid.startswith(MARK))


def test_ids_that_do_not_fit_are_mapped_by_shard_and_position() -> None:
    assert wire_id(TAG, "review:42.a", 7) == f"{MARK}{TAG}-7"
    assert wire_id(TAG, "x" * 65, 1).startswith(MARK)
    assert wire_id(TAG, "{6f1c-uuid}", 2) != wire_id(shard_tag("run-1", "s0001"), "{6f1c-uuid}", 2)
    assert wire_id(TAG, f"{MARK}mine", 3) == f"{MARK}{TAG}-3"  # the mark is reserved
    assert wire_id(TAG, "plain_id-1", 9) == "plain_id-1"


def _line(result: dict[str, object], cid: str = "r1") -> bytes:
    return orjson.dumps({"custom_id": cid, "result": result})


def _message(stop: str, text: str = "hi") -> dict[str, object]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
        },
    }


@pytest.mark.parametrize(
    ("stop", "outcome"),
    [
        ("end_turn", Outcome.SUCCEEDED),
        ("stop_sequence", Outcome.SUCCEEDED),
        ("tool_use", Outcome.SUCCEEDED),
        ("max_tokens", Outcome.TRUNCATED),
        ("pause_turn", Outcome.TRUNCATED),
        ("refusal", Outcome.REFUSED),
    ],
)
def test_a_succeeded_line_is_judged_by_its_stop_reason(stop: str, outcome: Outcome) -> None:
    row = parse_line(_line({"type": "succeeded", "message": _message(stop)}), line=3)
    assert row.outcome is outcome
    assert row.custom_id == "r1" and row.text == "hi" and row.status_code == 200
    assert not row.retryable
    assert row.body_path == ("result", "message")
    assert row.body is not None and row.body["id"] == "msg_1"
    # every prompt token is input; cache reads and writes are the parts priced apart
    assert row.usage is not None
    assert (row.usage.input_tokens, row.usage.cached_tokens, row.usage.cache_write_tokens) == (
        130,
        100,
        20,
    )
    assert row.usage.output_tokens == 5


@pytest.mark.parametrize(
    ("etype", "status", "retryable"),
    [
        ("invalid_request_error", 400, False),
        ("billing_error", 402, False),
        ("overloaded_error", 529, True),
        ("api_error", 500, True),
        ("rate_limit_error", 429, True),
        ("timeout_error", 504, True),
    ],
)
def test_an_errored_line_keeps_the_nested_type(etype: str, status: int, retryable: bool) -> None:
    envelope = {"type": "error", "error": {"type": etype, "message": "nope", "details": None}}
    row = parse_line(_line({"type": "errored", "error": envelope}))
    assert row.outcome is Outcome.FAILED
    assert row.error is not None and row.error.code == etype and row.error.message == "nope"
    assert (row.status_code, row.retryable) == (status, retryable)


def test_canceled_and_expired_lines() -> None:
    cancelled = parse_line(_line({"type": "canceled"}))
    expired = parse_line(_line({"type": "expired"}))
    assert (cancelled.outcome, cancelled.retryable) == (Outcome.CANCELLED, False)
    assert (expired.outcome, expired.retryable) == (Outcome.EXPIRED, True)
    assert cancelled.status_code is None and expired.status_code is None


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (b"{not json", "result_invalid_json"),
        (b"[1]", "result_not_object"),
        (b'{"result": {"type": "canceled"}}', "result_missing_custom_id"),
        (b'{"custom_id": "a", "result": {"type": "mystery"}}', "result_bad_result"),
        (b'{"custom_id": "a", "result": {"type": "succeeded"}}', "result_bad_result"),
        (b'{"custom_id": "a", "result": {"type": "errored", "error": 3}}', "result_bad_result"),
    ],
)
def test_unreadable_lines_name_their_rule(raw: bytes, rule: str) -> None:
    with pytest.raises(ResultLineError) as err:
        parse_line(raw, source="batch msgbatch_1", line=4)
    assert err.value.rule == rule
    assert err.value.line == 4


@given(st.binary(max_size=200))
def test_any_bytes_give_a_row_or_a_result_line_error(raw: bytes) -> None:
    with contextlib.suppress(ResultLineError):
        parse_line(raw)


def test_a_realtime_answer_is_judged_like_a_batch_row() -> None:
    ok = row_from_answer("a", 200, _message("end_turn"))
    assert ok.outcome is Outcome.SUCCEEDED and ok.text == "hi"
    busy = row_from_answer("a", 529, {"type": "error", "error": {"type": "overloaded_error"}})
    assert busy.outcome is Outcome.FAILED and busy.retryable and busy.status_code == 529
    bad = row_from_answer("a", 400, {"type": "error", "error": {"type": "invalid_request_error"}})
    assert not bad.retryable
    lost = row_from_answer("a", None, None)
    assert lost.retryable and lost.error is not None
    assert usage_of(None) is None
