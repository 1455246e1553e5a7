"""A run's shard inputs are compressed on disk and reach the provider as their raw lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import batchport as bp
from batchport.runner import InstantClock
from batchport.store import LocalBlobs

from .conftest import assert_one_outcome_each, chat

SKIPPABLE = b"\x5b\x2a\x4d\x18"  # a zstd skippable frame's magic, little-endian


async def test_a_run_with_compressed_shards_uploads_the_raw_lines(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    # row failures make retry shards, written by the collector rather than by prepare
    backend = backend_factory({"faults": {"row_failure_rate": 0.4, "row_failure_statuses": [500]}})
    reqs = [chat(i, f"row {i} " + "padding " * 40) for i in range(60)]
    run = await bp.run(
        reqs, backend=backend, home=home, clock=clock, progress=False, max_attempts=8
    )
    assert_one_outcome_each(run, reqs)
    assert run.outcomes == {"succeeded": 60}

    blobs = run.store.blobs
    assert isinstance(blobs, LocalBlobs)
    shards = run.store.shards(run.id)
    assert any(s.parent_id for s in shards), "some rows must have gone to a retry shard"
    sent: set[bytes] = set()
    for shard in shards:
        on_disk = blobs.path(shard.input_key).read_bytes()
        assert on_disk.startswith(SKIPPABLE)
        with blobs.open(shard.input_key) as f:
            raw = f.read()
        assert len(raw) == shard.bytes > len(on_disk)
        assert raw.count(b"\n") == shard.rows
        sent.add(raw)

    emulator = backend.emulator
    uploaded = {
        emulator.state.files.content_path(rec.id).read_bytes()
        for rec in emulator.state.files.all()
        if rec.purpose == "batch"
    }
    assert uploaded == sent
