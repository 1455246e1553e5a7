"""Azure behaviour in the state model, without HTTP: validation codes, deployments,
enqueued-token quota (fail-batch, fail-fast, dynamic), result lines and expiry."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import StateFactory
from emu_jsonl import jsonl, parse_lines
from hypothesis import given, settings
from hypothesis import strategies as st

from batchport_emulator.azure.checks import validate_input
from batchport_emulator.azure.config import AzureConfig
from batchport_emulator.azure.rules import AzureRules
from batchport_emulator.batch_params import CreateParams
from batchport_emulator.batches import Batch
from batchport_emulator.errors import ApiError
from batchport_emulator.lifecycle import Status
from batchport_emulator.state import EmulatorState

DEP = "gpt-4o-batch"


def row(
    i: int, model: str = DEP, url: str = "/chat/completions", cid: str | None = None
) -> dict[str, Any]:
    text = f"hello {i} " * 20
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if url.endswith("/responses"):
        body = {"model": model, "input": text}
    return {"custom_id": cid or f"task-{i}", "method": "POST", "url": url, "body": body}


def upload(state: EmulatorState, data: bytes) -> str:
    sink = state.begin_upload()
    sink.write(data)
    record = state.finish_upload(
        sink,
        filename="in.jsonl",
        purpose="batch",
        expires_after_s=None,
        dialect=state.dialects["azure"],
    )
    return record.id


def submit(state: EmulatorState, data: bytes, window: str = "24h") -> Batch:
    params = CreateParams(upload(state, data), "/chat/completions", window, None, None)
    return state.create_batch(params, dialect=state.dialects["azure"])


async def run(state: EmulatorState, data: bytes, window: str = "24h") -> Batch:
    batch = submit(state, data, window)
    await state.processor.drain()
    return batch


def azure_rules(state: EmulatorState) -> AzureRules:
    rules = state.dialects["azure"].rules
    assert isinstance(rules, AzureRules)
    return rules


def content(state: EmulatorState, file_id: str | None) -> bytes:
    assert file_id is not None
    return Path(state.files.downloadable_path(file_id)).read_bytes()


CASES: list[tuple[str, bytes, dict[str, Any], list[tuple[str, int | None]]]] = [
    (
        "too many",
        jsonl([row(i) for i in range(4)]),
        {"max_requests_per_batch": 3},
        [("too_many_tasks", None)],
    ),
    ("url differs", jsonl([row(0), row(1, url="/responses")]), {}, [("url_mismatch", 2)]),
    (
        "url forms mixed",
        jsonl([row(0), row(1, url="/v1/chat/completions")]),
        {},
        [("url_mismatch", 2)],
    ),
    ("embeddings", jsonl([row(0, url="/v1/embeddings")]), {}, [("url_mismatch", 1)]),
    ("model differs", jsonl([row(0), row(1, model="other")]), {}, [("model_mismatch", 2)]),
    ("duplicate id", jsonl([row(0), row(1, cid="task-0")]), {}, [("duplicate_custom_id", 2)]),
    ("empty", b"", {}, [("empty_file", None)]),
    ("bad json", jsonl([row(0)]) + b"{nope\n", {}, [("invalid_json_line", 2)]),
    ("bom", b"\xef\xbb\xbf" + jsonl([row(0)]), {}, [("invalid_request", None)]),
    (
        "unknown deployment",
        jsonl([row(0, model="nope")]),
        {"deployments": [{"name": DEP}]},
        [("model_not_found", None)],
    ),
    (
        "standard deployment",
        jsonl([row(0)]),
        {"deployments": [{"name": DEP, "type": "Standard"}]},
        [("invalid_request", None)],
    ),
]


@pytest.mark.parametrize(("name", "data", "azure", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_validation_codes(
    make_state: StateFactory,
    name: str,
    data: bytes,
    azure: dict[str, Any],
    expected: list[tuple[str, int | None]],
) -> None:
    state = await make_state(azure=azure)
    batch = await run(state, data)
    assert batch.status is Status.FAILED
    assert batch.errors is not None
    assert [(e.code, e.line) for e in batch.errors] == expected
    assert all(e.message for e in batch.errors)


async def test_bom_gets_azures_misleading_message(make_state: StateFactory) -> None:
    state = await make_state()
    batch = await run(state, b"\xef\xbb\xbf" + jsonl([row(0)]))
    assert batch.errors is not None
    assert batch.errors[0].message.startswith(
        "Validation failed: A valid model deployment name couldn't be extracted"
    )


async def test_other_completion_window_fails_the_job(make_state: StateFactory) -> None:
    state = await make_state()
    batch = await run(state, jsonl([row(0)]), window="48h")
    assert batch.status is Status.FAILED
    assert batch.errors is not None
    assert [(e.code, e.param) for e in batch.errors] == [("invalid_request", "completion_window")]


async def test_v1_lines_run_under_a_classic_endpoint_with_azure_lines(
    make_state: StateFactory,
) -> None:
    state = await make_state(seed=3)
    batch = await run(state, jsonl([row(i, url="/v1/responses") for i in range(3)]))
    assert batch.status is Status.COMPLETED
    lines = parse_lines(content(state, batch.output_file_id))
    assert {ln["custom_id"] for ln in lines} == {"task-0", "task-1", "task-2"}
    for ln in lines:
        assert "id" not in ln
        assert ln["error"] is None
        assert ln["response"]["status_code"] == 200 and ln["response"]["request_id"]
        assert ln["response"]["body"]["object"] == "response"
        assert ln["response"]["body"]["content_filters"] is None
    assert batch.error_file_id is not None
    assert content(state, batch.error_file_id) == b""


async def test_chat_lines_carry_content_filter_results(make_state: StateFactory) -> None:
    state = await make_state()
    batch = await run(state, jsonl([row(0)]))
    body = parse_lines(content(state, batch.output_file_id))[0]["response"]["body"]
    assert "content_filter_results" in body["choices"][0]
    assert "prompt_filter_results" in body


def quota_config(limit: int, **azure: Any) -> dict[str, Any]:
    return {
        "progression": {"kind": "after_polls", "polls": 2},
        "azure": {"deployments": [{"name": DEP, "enqueued_token_limit": limit}], **azure},
    }


async def step(state: EmulatorState, batch: Batch) -> Status:
    """Two polls: under after_polls(2) the batch leaves its current stage."""
    for _ in range(2):
        state.poll_batch(batch.id)
        await state.processor.drain()
    return batch.status


async def finish(state: EmulatorState, batch: Batch) -> None:
    for _ in range(20):
        if batch.terminal:
            return
        state.poll_batch(batch.id)
        await state.processor.drain()
    raise AssertionError(f"{batch.id} did not finish: {batch.status}")


async def test_tokens_count_from_submission_until_terminal(make_state: StateFactory) -> None:
    data = jsonl([row(i) for i in range(4)])
    tokens = sum(len(line) // 4 for line in data.splitlines(keepends=True))
    state = await make_state(**quota_config(tokens + tokens // 2))
    first = submit(state, data)
    assert await step(state, first) is Status.IN_PROGRESS
    assert azure_rules(state).in_flight(DEP) == tokens
    second = submit(state, data)
    assert await step(state, second) is Status.FAILED
    assert second.errors is not None
    assert [e.code for e in second.errors] == ["token_limit_exceeded"]
    assert "surpassed the configured limit" in second.errors[0].message
    await finish(state, first)
    assert azure_rules(state).in_flight(DEP) == 0
    third = submit(state, data)
    await finish(state, third)
    assert third.status is Status.COMPLETED


async def test_a_batch_larger_than_the_limit_alone_is_refused(make_state: StateFactory) -> None:
    state = await make_state(**quota_config(5))
    batch = submit(state, jsonl([row(0)]))
    assert await step(state, batch) is Status.FAILED
    assert batch.errors is not None and batch.errors[0].code == "token_limit_exceeded"


async def test_dynamic_quota_lets_some_work_above_the_limit(make_state: StateFactory) -> None:
    data = jsonl([row(i) for i in range(4)])
    tokens = sum(len(line) // 4 for line in data.splitlines(keepends=True))
    config = quota_config(tokens, dynamic_quota_headroom=1.0)
    config["azure"]["deployments"][0]["dynamic_quota"] = True
    state = await make_state(**config)
    statuses = [await step(state, submit(state, data)) for _ in range(3)]
    # up to twice the limit is accepted, nothing more
    assert statuses == [Status.IN_PROGRESS, Status.IN_PROGRESS, Status.FAILED]


async def test_fail_fast_refuses_at_create_and_releases_at_the_end(
    make_state: StateFactory,
) -> None:
    data = jsonl([row(i) for i in range(4)])
    state = await make_state(**quota_config(len(data) // 4 + 10, token_limit_mode="fail_fast"))
    first = submit(state, data)
    with pytest.raises(ApiError) as info:
        submit(state, data)
    assert (info.value.status, info.value.code) == (400, "token_limit_exceeded")
    await finish(state, first)
    await finish(state, submit(state, data))


async def test_no_expiry_unless_configured(make_state: StateFactory) -> None:
    for expiry, status in ((False, Status.VALIDATING), (True, Status.EXPIRED)):
        state = await make_state(
            progression={"kind": "after_polls", "polls": 5}, azure={"batch_expiry": expiry}
        )
        batch = submit(state, jsonl([row(0)]))
        state.advance_clock(3 * 86_400)
        await state.processor.drain()
        assert batch.status is status


# -- property: the validator's report is well-formed for any mix of lines ----------------

_LINES = {
    "ok": lambda i: orjson.dumps(row(i)),
    "v1": lambda i: orjson.dumps(row(i, url="/v1/chat/completions")),
    "other_model": lambda i: orjson.dumps(row(i, model="x")),
    "dup": lambda i: orjson.dumps(row(0)),
    "junk": lambda i: b"{not json",
    "array": lambda i: b"[1, 2]",
    "blank": lambda i: b"   ",
    "no_body": lambda i: json.dumps({"custom_id": f"n{i}", "method": "POST", "url": "/x"}).encode(),
}
_CODES = {
    "invalid_json_line",
    "invalid_request",
    "url_mismatch",
    "model_mismatch",
    "duplicate_custom_id",
    "empty_file",
    "too_many_tasks",
}


@settings(max_examples=80, deadline=None)
@given(kinds=st.lists(st.sampled_from(sorted(_LINES)), max_size=30))
def test_validator_reports_each_bad_line_once_in_order(kinds: list[str]) -> None:
    data = b"".join(_LINES[k](i) + b"\n" for i, k in enumerate(kinds))
    plan = validate_input(io.BytesIO(data), completion_window="24h", config=AzureConfig())
    lines = [e.line for e in plan.errors if e.line is not None]
    assert lines == sorted(lines)  # input order; one line may break several rules
    assert {e.code for e in plan.errors} <= _CODES
    non_blank = sum(k != "blank" for k in kinds)
    assert plan.total + len(set(lines)) == non_blank
    if plan.total and not plan.errors:
        assert plan.model == ("x" if "other_model" in kinds else DEP)
    assert (non_blank == 0) == any(e.code == "empty_file" for e in plan.errors)
