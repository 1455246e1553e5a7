"""Runs under API faults, per-row faults and corrupted downloads."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.runner import InstantClock

from .crashchild import requests


async def test_soak_with_api_and_row_faults_settles_every_row(tmp_path: Path) -> None:
    cfg = {
        "seed": 7,
        "faults": {
            "api_error_rate": 0.05,
            "api_error_kinds": ["500", "429", "drop"],
            "row_failure_rate": 0.05,
            "row_failure_statuses": [429, 500],
        },
    }
    reqs = [
        bp.Request(
            custom_id=f"k{i:04d}",
            url="/v1/chat/completions",
            body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"soak {i}"}]},
        )
        for i in range(600)
    ]
    async with EmulatorBackend(cfg) as backend:
        run = await bp.run(
            reqs,
            backend=backend,
            home=tmp_path,
            clock=InstantClock(real_sleep=0.002),
            progress=False,
            max_rows_per_shard=100,
            max_attempts=8,
            api_retries=20,
        )
        assert backend.emulator is not None
        batches = backend.emulator.batches()
    assert run.store.outcome_counts(run.id) == {"succeeded": 600}
    assert [r.custom_id for r in run.results()] == [q.custom_id for q in reqs]
    # never two batches for one submission of one shard
    tags = Counter(
        (b["metadata"]["batchport_shard"], b["metadata"]["batchport_submit"]) for b in batches
    )
    assert tags and max(tags.values()) == 1
    assert any(r.retried for r in run.results())


class CorruptOnce(EmulatorBackend):
    """Serves a truncated first download of every file, as a flaky network might."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.corrupted: set[str] = set()

    async def stream_file(self, file_id: str) -> AsyncIterator[bytes]:
        first = file_id not in self.corrupted
        self.corrupted.add(file_id)
        async for chunk in super().stream_file(file_id):
            if first:
                chunk = chunk[: max(1, len(chunk) // 3)] + b'{"broken'
                yield chunk
                return
            yield chunk


async def test_corrupted_download_is_fetched_again(tmp_path: Path) -> None:
    async with CorruptOnce() as backend:
        run = await bp.run(
            requests(),
            backend=backend,
            home=tmp_path,
            clock=InstantClock(real_sleep=0.002),
            progress=False,
        )
        assert backend.corrupted
    assert run.store.outcome_counts(run.id) == {"succeeded": len(requests())}
    assert all(r.text for r in run.results())
    assert not list((tmp_path / "runs" / run.id / "results").glob("*.part"))


async def test_cleanup_deletes_provider_files(tmp_path: Path) -> None:
    async with EmulatorBackend() as backend:
        run = await bp.run(
            requests(),
            backend=backend,
            home=tmp_path,
            clock=InstantClock(real_sleep=0.002),
            progress=False,
            cleanup=True,
        )
        names = [f.filename async for f in backend.list_files(purpose=None)]
    assert run.ok
    assert names == []
    # results stay readable from the local copies
    assert all(r.text for r in run.results())


async def test_disk_full_while_storing_results_is_retried_then_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    from contextlib import contextmanager

    from batchport.store import LocalBlobs, Store

    real = LocalBlobs.writer
    failures = {"left": 1}

    @contextmanager
    def flaky_disk(self: LocalBlobs, key: str, *, compressed: bool = False) -> Any:
        with real(self, key, compressed=compressed) as f:
            if "/results/" in key and failures["left"] > 0:
                failures["left"] -= 1
                f.write(b"partial")
                raise OSError(errno.ENOSPC, "No space left on device")
            yield f

    monkeypatch.setattr(LocalBlobs, "writer", flaky_disk)
    async with EmulatorBackend() as backend:
        run = await bp.run(
            requests(), backend=backend, home=tmp_path / "a", clock=InstantClock(), progress=False
        )
    assert run.ok
    assert failures["left"] == 0

    failures["left"] = 99  # the disk stays full: the run stops with a clear error
    async with EmulatorBackend() as backend:
        with pytest.raises(bp.RunError, match="disk full"):
            await bp.run(
                requests(),
                backend=backend,
                home=tmp_path / "b",
                clock=InstantClock(),
                progress=False,
                run_id="run-full",
            )
    assert not list((tmp_path / "b" / "runs" / "run-full" / "results").glob("*"))
    with Store(tmp_path / "b") as store:
        assert store.outcome_counts("run-full") == {None: len(requests())}
