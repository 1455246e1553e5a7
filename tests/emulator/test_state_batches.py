"""Batches through the state model and processor, without HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import StateFactory, content, store_upload
from emu_jsonl import chat_file, chat_row, jsonl, parse_lines

from batchport_emulator.batch_params import CreateParams
from batchport_emulator.errors import ApiError
from batchport_emulator.lifecycle import Status
from batchport_emulator.state import EmulatorState


def params(file_id: str, **kw: object) -> CreateParams:
    base: dict[str, object] = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": None,
        "output_expires_after_s": None,
    }
    base.update(kw)
    return CreateParams(**base)  # type: ignore[arg-type]


def submit(state: EmulatorState, data: bytes) -> str:
    return state.create_batch(
        params(store_upload(state, data)), dialect=state.dialects["openai"]
    ).id


async def test_completes_with_shuffled_output_usage_and_model(make_state: StateFactory) -> None:
    state = await make_state(seed=3)
    batch_id = submit(state, chat_file(200))
    batch = state.batches.get(batch_id)
    assert batch.status is Status.VALIDATING
    assert batch.model is None
    await state.processor.drain()
    assert batch.status is Status.COMPLETED
    assert batch.model == "gpt-4o-mini"
    assert (batch.counts.total, batch.counts.completed, batch.counts.failed) == (200, 200, 0)
    ts = batch.timestamps
    assert ts["in_progress_at"]
    assert ts["finalizing_at"]
    assert ts["completed_at"]
    assert batch.error_file_id is None  # created only when non-empty
    out = parse_lines(content(state, batch.output_file_id))
    ids = [line["custom_id"] for line in out]
    assert sorted(ids) == sorted(f"r{i}" for i in range(200))
    assert ids != [f"r{i}" for i in range(200)]  # shuffled
    assert (
        batch.usage.input_tokens
        == sum(line["response"]["body"]["usage"]["prompt_tokens"] for line in out)
        > 0
    )
    assert batch.usage.output_tokens == sum(
        line["response"]["body"]["usage"]["completion_tokens"] for line in out
    )
    assert state.files.get(batch.output_file_id or "").purpose == "batch_output"
    assert all(line["id"].startswith("batch_req_") and line["error"] is None for line in out)


async def test_shuffle_is_deterministic_under_the_seed(make_state: StateFactory) -> None:
    orders = []
    for seed in (5, 5, 6):
        state = await make_state(seed=seed)
        batch_id = submit(state, chat_file(50))
        await state.processor.drain()
        out = content(state, state.batches.get(batch_id).output_file_id)
        orders.append([line["custom_id"] for line in parse_lines(out)])
    assert orders[0] == orders[1] != orders[2]


async def test_http_errors_go_to_the_error_file(make_state: StateFactory) -> None:
    state = await make_state()
    rows = [chat_row(0), chat_row(1, content="[[emulator:status=404]]"), chat_row(2)]
    batch_id = submit(state, jsonl(rows))
    await state.processor.drain()
    batch = state.batches.get(batch_id)
    assert batch.status is Status.COMPLETED
    assert (batch.counts.completed, batch.counts.failed) == (2, 1)
    (line,) = parse_lines(content(state, batch.error_file_id))
    assert line["custom_id"] == "r1"
    assert line["error"] is None
    assert line["response"]["status_code"] == 404
    assert line["response"]["body"]["error"]["code"] == "model_not_found"


async def test_all_failed_batch_completes_without_output_file(make_state: StateFactory) -> None:
    state = await make_state(faults={"row_failure_rate": 1.0, "row_failure_statuses": [500]})
    batch_id = submit(state, chat_file(4))
    await state.processor.drain()
    batch = state.batches.get(batch_id)
    assert batch.status is Status.COMPLETED
    assert batch.output_file_id is None
    assert batch.counts.failed == 4
    assert batch.usage.input_tokens == 0
    lines = parse_lines(content(state, batch.error_file_id))
    assert {line["response"]["body"]["error"]["type"] for line in lines} == {"server_error"}


async def test_validation_failure_lists_codes_and_lines(make_state: StateFactory) -> None:
    state = await make_state()
    rows = [
        chat_row(0),
        {"custom_id": "x", "method": "POST", "url": "/v1/chat/completions"},
        chat_row(0),
        {**chat_row(3), "url": "/v1/embeddings"},
        {**chat_row(4), "body": {"model": "gpt-4o-mini", "messages": [], "stream": True}},
        chat_row(5, model="gpt-4o"),
    ]
    data = jsonl(rows) + b"{not json\n"
    batch_id = submit(state, data)
    await state.processor.drain()
    batch = state.batches.get(batch_id)
    assert batch.status is Status.FAILED
    assert batch.timestamps["failed_at"]
    assert batch.timestamps["in_progress_at"] is None
    got = [(e.code, e.line, e.param) for e in batch.errors or []]
    assert got == [
        ("missing_required_parameter", 2, "body"),
        ("duplicate_custom_id", 3, "custom_id"),
        ("invalid_url", 4, "url"),
        ("streaming_unsupported", 5, "body.stream"),
        ("mismatched_model", 6, "body.model"),
        ("invalid_json_line", 7, None),
    ]
    assert batch.output_file_id is None
    assert batch.error_file_id is None


async def test_unknown_input_file_fails_the_batch_or_404s(make_state: StateFactory) -> None:
    state = await make_state()
    batch = state.create_batch(params("file-nope"), dialect=state.dialects["openai"])
    await state.processor.drain()
    assert batch.status is Status.FAILED
    (error,) = batch.errors or []
    assert (error.code, error.param, error.line) == ("invalid_request", "file_id", None)
    assert "file-nope" in error.message
    strict = await make_state(batches={"missing_input_file": "not_found"})
    with pytest.raises(ApiError) as info:
        strict.create_batch(params("file-nope"), dialect=strict.dialects["openai"])
    assert info.value.status == 404


async def test_request_counts_grow_poll_by_poll(make_state: StateFactory) -> None:
    state = await make_state(progression={"kind": "after_polls", "polls": 4})
    batch_id = submit(state, chat_file(8))
    seen = []
    for _ in range(20):
        batch = state.poll_batch(batch_id)
        await state.processor.drain()
        seen.append((batch.status.value, batch.counts.completed))
        if batch.terminal:
            break
    assert seen[0] == ("validating", 0)
    progress = [c for s, c in seen if s == "in_progress"]
    assert progress == [0, 2, 4, 6]
    assert seen[-1] == ("completed", 8)


async def test_expiry_writes_batch_expired_lines(make_state: StateFactory) -> None:
    state = await make_state(faults={"expire_rate": 1.0, "expire_progress": 0.5})
    batch_id = submit(state, chat_file(10))
    await state.processor.drain()
    batch = state.batches.get(batch_id)
    assert batch.status is Status.IN_PROGRESS
    assert batch.counts.completed == 5
    state.advance_clock(86_400)
    await state.processor.drain()
    assert batch.status is Status.EXPIRED
    assert batch.timestamps["expired_at"]
    assert (batch.counts.total, batch.counts.completed, batch.counts.failed) == (10, 5, 0)
    assert len(parse_lines(content(state, batch.output_file_id))) == 5
    expired = parse_lines(content(state, batch.error_file_id))
    assert len(expired) == 5
    assert all(line["response"] is None for line in expired)
    assert {line["error"]["code"] for line in expired} == {"batch_expired"}
    assert expired[0]["error"]["message"] == (
        "This request could not be executed before the completion window expired."
    )


async def test_cancel_keeps_finished_rows_and_reports_the_rest(make_state: StateFactory) -> None:
    state = await make_state(progression={"kind": "after_polls", "polls": 2})
    batch_id = submit(state, chat_file(10))
    for _ in range(3):
        state.poll_batch(batch_id)
        await state.processor.drain()
    batch = state.batches.get(batch_id)
    assert batch.status is Status.IN_PROGRESS
    assert batch.counts.completed == 5
    assert state.cancel_batch(batch_id).status is Status.CANCELLING
    assert batch.timestamps["cancelling_at"]
    assert batch.output_file_id is None
    assert state.cancel_batch(batch_id).status is Status.CANCELLING  # idempotent
    for _ in range(2):
        state.poll_batch(batch_id)
        await state.processor.drain()
    assert batch.status is Status.CANCELLED
    assert batch.timestamps["cancelled_at"]
    assert len(parse_lines(content(state, batch.output_file_id))) == 5
    rest = parse_lines(content(state, batch.error_file_id))
    assert {line["error"]["code"] for line in rest} == {"batch_cancelled"}
    assert len(rest) == 5
    with pytest.raises(ApiError):
        state.cancel_batch("batch_missing")
    assert state.cancel_batch(batch_id).status is Status.CANCELLED


async def test_cancel_after_completion_is_409_without_retry(make_state: StateFactory) -> None:
    state = await make_state()
    batch_id = submit(state, chat_file(2))
    await state.processor.drain()
    with pytest.raises(ApiError) as info:
        state.cancel_batch(batch_id)
    assert info.value.status == 409
    assert info.value.headers == {"x-should-retry": "false"}
    assert info.value.message == "Cannot cancel a batch with status 'completed'."


async def test_fault_plans_fail_and_stick(make_state: StateFactory) -> None:
    state = await make_state(faults={"fail_validation_rate": 1.0})
    batch_id = submit(state, chat_file(2))
    await state.processor.drain()
    batch = state.batches.get(batch_id)
    assert batch.status is Status.FAILED
    assert (batch.errors or [])[0].code == "token_limit_exceeded"
    stuck = await make_state(faults={"stuck_validating_rate": 1.0})
    stuck_id = submit(stuck, chat_file(2))
    for _ in range(5):
        stuck.poll_batch(stuck_id)
        await stuck.processor.drain()
    assert stuck.batches.get(stuck_id).status is Status.VALIDATING


async def test_slow_finalizing_waits_virtual_seconds(make_state: StateFactory) -> None:
    state = await make_state(clock={"scale": 0}, faults={"slow_finalizing_s": 600})
    batch_id = submit(state, chat_file(3))
    await state.processor.drain()
    batch = state.batches.get(batch_id)
    assert batch.status is Status.FINALIZING
    state.advance_clock(600)
    await state.processor.drain()
    assert batch.status is Status.COMPLETED


async def test_throughput_policy_runs_rows_on_the_virtual_clock(
    make_state: StateFactory,
) -> None:
    state = await make_state(
        clock={"scale": 0},
        progression={
            "kind": "throughput",
            "requests_per_s": 1,
            "validating_s": 10,
            "finalizing_s": 5,
        },
    )
    batch_id = submit(state, chat_file(20))
    batch = state.batches.get(batch_id)
    await state.processor.drain()
    assert batch.status is Status.VALIDATING
    state.advance_clock(10)
    await state.processor.drain()
    assert batch.status is Status.IN_PROGRESS
    assert batch.counts.completed == 0
    state.advance_clock(7)
    await state.processor.drain()
    assert batch.counts.completed == 7
    state.advance_clock(13)
    await state.processor.drain()
    assert batch.status is Status.FINALIZING
    state.advance_clock(5)
    await state.processor.drain()
    assert batch.status is Status.COMPLETED


async def test_enqueued_token_limit(make_state: StateFactory) -> None:
    state = await make_state(
        limits={"enqueued_token_limit": 2_000}, progression={"kind": "after_polls", "polls": 5}
    )
    first = submit(state, chat_file(40))
    state.poll_batch(first)
    for _ in range(5):
        state.poll_batch(first)
        await state.processor.drain()
    second = submit(state, chat_file(40))
    for _ in range(5):
        state.poll_batch(second)
        await state.processor.drain()
    assert state.batches.get(first).status is Status.IN_PROGRESS
    failed = state.batches.get(second)
    assert failed.status is Status.FAILED
    assert (failed.errors or [])[0].code == "token_limit_exceeded"


async def test_data_dir_survives_restart(tmp_path: Path, make_state: StateFactory) -> None:
    state = await make_state(data_dir=str(tmp_path))
    batch_id = submit(state, chat_file(6))
    await state.processor.drain()
    output_id = state.batches.get(batch_id).output_file_id
    await state.aclose()
    again = await make_state(data_dir=str(tmp_path))
    batch = again.batches.get(batch_id)
    assert batch.status is Status.COMPLETED
    assert batch.counts.completed == 6
    assert len(parse_lines(content(again, output_id))) == 6


async def test_in_progress_batch_restarts_its_rows(tmp_path: Path, make_state: StateFactory):
    state = await make_state(
        data_dir=str(tmp_path), progression={"kind": "after_polls", "polls": 2}
    )
    batch_id = submit(state, chat_file(6))
    for _ in range(3):
        state.poll_batch(batch_id)
        await state.processor.drain()
    assert state.batches.get(batch_id).status is Status.IN_PROGRESS
    await state.aclose()
    again = await make_state(data_dir=str(tmp_path))
    await again.processor.drain()
    batch = again.batches.get(batch_id)
    assert batch.status is Status.COMPLETED
    out = parse_lines(content(again, batch.output_file_id))
    assert sorted(line["custom_id"] for line in out) == [f"r{i}" for i in range(6)]


async def test_reset_during_processing_is_safe(make_state: StateFactory) -> None:
    state = await make_state()
    submit(state, chat_file(2000))
    task = asyncio.create_task(state.processor.drain())
    await asyncio.sleep(0)
    state.reset()
    await task
    assert state.batches.all() == []
