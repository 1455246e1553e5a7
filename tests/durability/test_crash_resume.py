"""Kill a run at every phase, resume it, and check nothing was lost or paid twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.store import Store
from batchport_emulator import EmulatorThread

from .crashchild import ROWS, SHARD_ROWS, requests

ROOT = Path(__file__).resolve().parents[2]
PHASES = [
    "prepare",
    "upload_commit",
    "before_create",
    "create_commit",
    "polling",
    "download",
    "reconcile",
]
SHARDS = ROWS // SHARD_ROWS


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emu:
        yield emu


def _child(
    emu: EmulatorThread, home: Path, run_id: str, phase: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tests.durability.crashchild", emu.url, str(home), run_id, phase],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _batches_of(emu: EmulatorThread, run_id: str) -> list[dict[str, object]]:
    return [b for b in emu.batches() if (b.get("metadata") or {}).get("batchport_run") == run_id]


def _uploads_of(emu: EmulatorThread, run_id: str) -> list[str]:
    resp = httpx2.get(
        f"{emu.base_url}/files",
        headers={"Authorization": "Bearer sk-test"},
        params={"limit": 10000},
    )
    return [f["filename"] for f in resp.json()["data"] if f["filename"].startswith(run_id + ".")]


def _texts(run: bp.Run) -> list[tuple[str, str, str | None]]:
    return [(r.custom_id, r.outcome.value, r.text) for r in run.results()]


@pytest.fixture(scope="module")
def reference(
    emulator: EmulatorThread, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[str, str, str | None]]:
    home = tmp_path_factory.mktemp("reference")
    done = _child(emulator, home, "run-reference", "none")
    assert done.returncode == 0, done.stderr
    return _texts(bp.Run(Store(home), "run-reference"))


# What the store must show right after the kill, per phase: the crash really hit there.
EXPECTED_STATE = {
    "prepare": None,  # nothing recorded: no shard at all
    "upload_commit": "submitting",
    "before_create": "submitting",  # the intent is committed, the call never made
    "create_commit": "submitting",
    "polling": "submitted",
    "download": "finished",
    "reconcile": "finished",
}


@pytest.mark.parametrize("phase", PHASES)
async def test_killed_run_resumes_without_loss_or_duplicates(
    phase: str,
    emulator: EmulatorThread,
    tmp_path: Path,
    reference: list[tuple[str, str, str | None]],
) -> None:
    run_id = f"run-crash-{phase}"
    crashed = _child(emulator, tmp_path, run_id, phase)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    with Store(tmp_path) as store:
        states = {s.state for s in store.shards(run_id)}
        expected = EXPECTED_STATE[phase]
        assert expected in states if expected else not states, states
        if phase == "prepare":  # stopped before anything was sent; it prepares again
            assert store.get_run(run_id).state == "planning"
            assert not _batches_of(emulator, run_id)
        staged = [s.staged() for s in store.shards(run_id) if s.state == "submitting"]
        if phase == "upload_commit":  # the upload happened; only the intent is recorded
            assert any(c.get("upload") and "file_id" not in c for c in staged)
            assert _uploads_of(emulator, run_id)
        if phase == "before_create":
            assert not _batches_of(emulator, run_id)
        if phase == "create_commit":  # the batch exists remotely but is not recorded
            assert not any(s.job_id for s in store.shards(run_id) if s.state == "submitting")
            assert _batches_of(emulator, run_id)
        if phase == "download":
            assert list((tmp_path / "runs" / run_id / "results").glob("*.part"))
        if phase == "reconcile":  # written but never committed: nothing is settled
            assert store.outcome_counts(run_id) == {None: ROWS}

    backend = EmulatorBackend(url=emulator.url)
    run = await bp.resume(
        run_id, backend=backend, home=tmp_path, requests=requests(), progress=False
    )
    await backend.aclose()

    counts = run.store.outcome_counts(run_id)
    assert counts == {"succeeded": ROWS}, counts
    assert _texts(run) == reference
    batches = _batches_of(emulator, run_id)
    shard_tags = sorted(str(b["metadata"]["batchport_shard"]) for b in batches)  # type: ignore[index]
    assert shard_tags == [f"s{i:04d}" for i in range(SHARDS)], "exactly one batch per shard"
    assert len(_uploads_of(emulator, run_id)) == SHARDS, "orphaned uploads adopted or deleted"
