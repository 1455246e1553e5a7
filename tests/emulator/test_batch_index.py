"""Listing and the processor's tick cost what is running, not every batch ever made."""

from __future__ import annotations

from pathlib import Path

from conftest import StateFactory
from emu_jsonl import chat_file
from test_state_batches import submit

from batchport_emulator.batches import BatchStore


async def test_finished_batches_leave_the_active_index(make_state: StateFactory) -> None:
    state = await make_state(seed=1)
    ids = [submit(state, chat_file(3)) for _ in range(5)]
    assert [b.id for b in state.batches.active()] == ids
    await state.processor.drain()
    assert state.batches.active() == []  # nothing left for a tick to look at
    assert [b.id for b in state.batches.all()] == ids  # creation order, never re-sorted
    newest_first = state.batches.list_batches(after=None, limit=10).items
    assert [b.id for b in newest_first] == ids[::-1]


async def test_the_index_is_rebuilt_in_order_from_a_data_dir(
    tmp_path: Path, make_state: StateFactory
) -> None:
    state = await make_state(seed=1, data_dir=str(tmp_path))
    ids = [submit(state, chat_file(2)) for _ in range(3)]
    await state.processor.drain()
    again = BatchStore(tmp_path / "batches")
    assert [b.id for b in again.all()] == ids
    assert again.active() == []
