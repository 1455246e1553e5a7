"""An emulator on a data directory stopped and started again (in-process): virtual time,
in-flight batches, counts against the lines in the files, quotas and cursors.

A "kill" is a copy of the data directory taken while the first emulator still runs
(buffered lines not yet written are not in it); a "stop" closes the first one.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from conftest import StateFactory, content, store_upload
from emu_jsonl import chat_file, jsonl, parse_lines
from test_azure_rules import DEP, azure_rules, quota_config, row, step
from test_azure_rules import submit as azure_submit
from test_state_batches import submit

from batchport_emulator.batches import Batch
from batchport_emulator.lifecycle import Status
from batchport_emulator.state import EmulatorState

POLLS: dict[str, Any] = {"progression": {"kind": "after_polls", "polls": 2}}
FUTURE = 4_000_000_000.0  # far ahead of wall time


async def polls(state: EmulatorState, batch_id: str, n: int) -> Batch:
    for _ in range(n):
        state.poll_batch(batch_id)
        await state.processor.drain()
    return state.batches.get(batch_id)


async def finish(state: EmulatorState, batch_id: str) -> Batch:
    batch = await polls(state, batch_id, 20)
    assert batch.terminal, batch.status
    return batch


def lines(state: EmulatorState, file_id: str | None) -> list[dict[str, Any]]:
    return [] if file_id is None else parse_lines(content(state, file_id))


def assert_counts_match_files(state: EmulatorState, batch: Batch) -> None:
    out, err = lines(state, batch.output_file_id), lines(state, batch.error_file_id)
    ran_errors = [line for line in err if line["response"] is not None]
    assert batch.counts.completed == len(out)
    assert batch.counts.failed == len(ran_errors)
    ids = [line["custom_id"] for line in out + err]
    assert len(ids) == len(set(ids)) == batch.counts.total


def assert_times_in_order(batch: Batch) -> None:
    ts = batch.timestamps
    stamps = [batch.created_at] + [
        ts[k] for k in ("in_progress_at", "finalizing_at", "completed_at") if ts[k] is not None
    ]
    assert stamps == sorted(stamps), stamps


def killed_copy(tmp_path: Path) -> Path:
    """The data directory as a SIGKILL would leave it right now."""
    copy = tmp_path / "after-kill"
    shutil.copytree(tmp_path / "data", copy)
    return copy


# -- virtual time --------------------------------------------------------------------


async def test_a_moved_clock_resumes_where_it_stood(tmp_path: Path, make_state: StateFactory):
    config: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "clock": {"scale": 0},
        "progression": {
            "kind": "throughput",
            "requests_per_s": 1,
            "validating_s": 5,
            "finalizing_s": 0,
        },
    }
    state = await make_state(**config)
    state.set_clock(FUTURE)
    batch_id = submit(state, chat_file(20))
    state.advance_clock(10)
    await state.processor.drain()
    assert state.batches.get(batch_id).status is Status.IN_PROGRESS
    await state.aclose()

    again = await make_state(**config)
    assert again.clock.now() == FUTURE + 10
    again.advance_clock(60)
    await again.processor.drain()
    batch = again.batches.get(batch_id)
    assert batch.status is Status.COMPLETED
    assert_times_in_order(batch)
    assert_counts_match_files(again, batch)


async def test_after_a_kill_the_clock_resumes_from_the_newest_stored_time(
    tmp_path: Path, make_state: StateFactory
) -> None:
    config: dict[str, Any] = {"clock": {"scale": 0}, **POLLS}
    state = await make_state(data_dir=str(tmp_path / "data"), **config)
    state.set_clock(FUTURE)
    batch_id = submit(state, chat_file(4))
    state.advance_clock(100)
    await polls(state, batch_id, 2)  # in_progress at FUTURE + 100
    (tmp_path / "data" / "clock.json").unlink(missing_ok=True)  # killed before the clock was saved

    again = await make_state(data_dir=str(killed_copy(tmp_path)), **config)
    assert again.clock.now() >= FUTURE + 100
    batch = await finish(again, batch_id)
    assert batch.status is Status.COMPLETED
    assert_times_in_order(batch)


async def test_a_wall_clock_keeps_following_wall_time(tmp_path: Path, make_state: StateFactory):
    state = await make_state(data_dir=str(tmp_path))
    submit(state, chat_file(2))
    await state.processor.drain()
    await state.aclose()
    again = await make_state(data_dir=str(tmp_path))
    assert again.clock.tracks_wall
    assert abs(again.clock.now() - state.clock.now()) < 5


# -- counts equal lines ------------------------------------------------------------------


async def test_lines_buffered_when_killed_in_finalizing_are_on_disk(
    tmp_path: Path, make_state: StateFactory
) -> None:
    state = await make_state(data_dir=str(tmp_path / "data"), **POLLS)
    batch_id = submit(state, chat_file(6))
    assert (await polls(state, batch_id, 4)).status is Status.FINALIZING

    again = await make_state(data_dir=str(killed_copy(tmp_path)), **POLLS)
    batch = await finish(again, batch_id)
    assert batch.status is Status.COMPLETED
    assert batch.counts.completed == 6
    assert_counts_match_files(again, batch)


async def test_rows_whose_lines_were_lost_run_again(tmp_path: Path, make_state: StateFactory):
    state = await make_state(data_dir=str(tmp_path / "data"), **POLLS)
    batch_id = submit(state, chat_file(6))
    assert (await polls(state, batch_id, 4)).status is Status.FINALIZING
    copy = killed_copy(tmp_path)
    work = copy / "files" / f"{batch_id}-output.part"
    data = work.read_bytes()
    work.write_bytes(data[: len(data) // 2])  # a line and a half reached the disk

    again = await make_state(data_dir=str(copy), **POLLS)
    batch = await finish(again, batch_id)
    assert batch.status is Status.COMPLETED
    assert batch.counts.completed == 6
    assert_counts_match_files(again, batch)


async def test_an_in_progress_batch_keeps_the_rows_already_written(
    tmp_path: Path, make_state: StateFactory
) -> None:
    state = await make_state(data_dir=str(tmp_path), **POLLS)
    batch_id = submit(state, chat_file(6))
    assert (await polls(state, batch_id, 3)).counts.completed == 3
    await state.aclose()

    again = await make_state(data_dir=str(tmp_path), **POLLS)
    await again.processor.drain()
    assert again.batches.get(batch_id).counts.completed == 3
    batch = await finish(again, batch_id)
    assert batch.status is Status.COMPLETED
    assert_counts_match_files(again, batch)


async def test_rows_buffered_when_killed_in_progress_run_again(
    tmp_path: Path, make_state: StateFactory
) -> None:
    state = await make_state(data_dir=str(tmp_path / "data"), **POLLS)
    batch_id = submit(state, chat_file(6))
    assert (await polls(state, batch_id, 3)).counts.completed == 3  # lines still buffered

    again = await make_state(data_dir=str(killed_copy(tmp_path)), **POLLS)
    batch = await finish(again, batch_id)
    assert batch.status is Status.COMPLETED
    assert batch.counts.completed == 6
    assert_counts_match_files(again, batch)


async def test_a_batch_whose_input_file_was_deleted_fails(tmp_path: Path, make_state):
    state = await make_state(data_dir=str(tmp_path), **POLLS)
    batch_id = submit(state, chat_file(6))
    batch = await polls(state, batch_id, 3)
    assert batch.status is Status.IN_PROGRESS
    state.delete_file(batch.input_file_id)
    await state.aclose()

    again = await make_state(data_dir=str(tmp_path), **POLLS)
    batch = await finish(again, batch_id)
    assert batch.status is Status.FAILED
    assert batch.errors is not None
    error = batch.errors[0]
    assert (error.code, error.param) == ("invalid_request", "file_id")
    assert error.message.startswith(f"Cannot find file {batch.input_file_id}")
    assert (batch.counts.completed, batch.counts.failed) == (0, 0)
    assert batch.output_file_id is None
    assert batch.timestamps["failed_at"] is not None


async def test_a_cancelling_batch_ends_with_its_cancelled_lines(
    tmp_path: Path, make_state: StateFactory
) -> None:
    state = await make_state(data_dir=str(tmp_path), **POLLS)
    batch_id = submit(state, chat_file(6))
    assert (await polls(state, batch_id, 3)).counts.completed == 3
    state.cancel_batch(batch_id)
    await state.aclose()

    again = await make_state(data_dir=str(tmp_path), **POLLS)
    batch = await finish(again, batch_id)
    assert batch.status is Status.CANCELLED
    assert_counts_match_files(again, batch)
    cancelled = [line for line in lines(again, batch.error_file_id) if line["error"]]
    assert len(cancelled) == 3
    assert {line["error"]["code"] for line in cancelled} == {"batch_cancelled"}


async def test_openai_enqueued_tokens_survive_a_restart(tmp_path: Path, make_state):
    config: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "limits": {"enqueued_token_limit": 2_000},
        "progression": {"kind": "after_polls", "polls": 5},
    }
    state = await make_state(**config)
    first = submit(state, chat_file(40))
    assert (await polls(state, first, 6)).status is Status.IN_PROGRESS
    await state.aclose()

    again = await make_state(**config)
    second = submit(again, chat_file(40))
    failed = await polls(again, second, 6)
    assert failed.status is Status.FAILED
    assert (failed.errors or [])[0].code == "token_limit_exceeded"


async def test_azure_enqueued_tokens_are_rebuilt(tmp_path: Path, make_state: StateFactory):
    data = jsonl([row(i) for i in range(4)])
    tokens = sum(len(line) // 4 for line in data.splitlines(keepends=True))
    config = {"data_dir": str(tmp_path), **quota_config(tokens + tokens // 2)}
    state = await make_state(**config)
    first = azure_submit(state, data)
    assert await step(state, first) is Status.IN_PROGRESS
    await state.aclose()

    again = await make_state(**config)
    assert azure_rules(again).in_flight(DEP) == tokens
    second = azure_submit(again, data)
    assert await step(again, second) is Status.FAILED
    assert [e.code for e in second.errors or []] == ["token_limit_exceeded"]


# -- cursors -------------------------------------------------------------------------


async def test_a_cursor_naming_a_file_deleted_before_the_restart_works(
    tmp_path: Path, make_state: StateFactory
) -> None:
    state = await make_state(data_dir=str(tmp_path))
    ids = [store_upload(state, chat_file(1)) for _ in range(3)]
    state.delete_file(ids[1])
    await state.aclose()

    again = await make_state(data_dir=str(tmp_path))
    dialect = again.dialects["openai"]
    page = again.list_files(dialect, after=ids[1], limit=10, descending=False, purpose=None)
    assert [r.id for r in page.items] == [ids[2]]
    page = again.list_files(dialect, after=ids[1], limit=10, descending=True, purpose=None)
    assert [r.id for r in page.items] == [ids[0]]
    assert store_upload(again, chat_file(1)) not in ids
