"""SIGKILL a command-line run at evenly spread moments of its life, then resume it.

The moments are fractions of how long the same run lives untouched once it is
recorded, so they fall in preparation, upload, polling and collection alike; wherever
one lands, the resumed run must end with every row settled once, one batch per shard,
and nothing resubmitted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.runner import InstantClock
from batchport.store import Store
from batchport_emulator import EmulatorThread

from .inputs import write_chat_input

ROOT = Path(__file__).resolve().parents[2]
# CI runs 6,000 rows; BATCHPORT_KILL_ROWS=60000 runs the full-size trial by hand
ROWS = int(os.environ.get("BATCHPORT_KILL_ROWS", "6000"))
SHARD_ROWS = ROWS // 6
MOMENTS = 10


@pytest.fixture(scope="module")
def served() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emu:
        yield emu


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_chat_input(tmp_path_factory.mktemp("input") / "in.jsonl", ROWS)


def _command(served: EmulatorThread, source: Path, home: Path, run_id: str) -> list[str]:
    return [sys.executable, "-m", "batchport", "run", str(source), "--emulator-url", served.url,
            "--home", str(home), "--run-id", run_id, "--max-rows", str(SHARD_ROWS),
            "--poll-interval", "0.05", "--no-progress"]  # fmt: skip


def _recorded(home: Path, run_id: str, child: subprocess.Popen[bytes]) -> float:
    """Wait until the child has recorded the run; return when that was."""
    while child.poll() is None:
        if (home / "batchport.sqlite3").exists():
            with Store(home) as store:
                if store.find_run(run_id) is not None:
                    return time.monotonic()
        time.sleep(0.005)
    said = (home / "stderr.txt").read_text(errors="replace")[-2000:]
    raise AssertionError(f"the run ended (exit {child.returncode}) before it was seen:\n{said}")


def _start(
    served: EmulatorThread, source: Path, home: Path, run_id: str
) -> subprocess.Popen[bytes]:
    with open(home / "stderr.txt", "wb") as said:  # the child keeps its own copy
        return subprocess.Popen(_command(served, source, home, run_id), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=said)  # fmt: skip


@pytest.fixture(scope="module")
def lifetime(
    served: EmulatorThread, source: Path, tmp_path_factory: pytest.TempPathFactory
) -> float:
    """How long the untouched run lives once recorded (kill moments are fractions of it)."""
    home = tmp_path_factory.mktemp("whole")
    child = _start(served, source, home, "run-whole")
    since = _recorded(home, "run-whole", child)
    assert child.wait(timeout=300) == 0
    return time.monotonic() - since


async def _resume(served: EmulatorThread, home: Path, run_id: str) -> bp.Run:
    async with EmulatorBackend(url=served.url) as be:
        return await bp.resume(run_id, backend=be, home=home, progress=False,
                               clock=InstantClock(real_sleep=0.005))  # fmt: skip


def _batches(served: EmulatorThread, run_id: str) -> list[str]:
    return [
        str(b["metadata"]["batchport_shard"])
        for b in served.batches()
        if (b.get("metadata") or {}).get("batchport_run") == run_id
    ]


@pytest.mark.parametrize("moment", range(1, MOMENTS + 1))
def test_killed_anywhere_a_run_resumes_whole(
    moment: int, served: EmulatorThread, source: Path, lifetime: float, tmp_path: Path
) -> None:
    run_id = f"run-kill-{moment}"
    child = _start(served, source, tmp_path, run_id)
    try:
        _recorded(tmp_path, run_id, child)
        time.sleep(lifetime * moment / (MOMENTS + 1))  # the child runs meanwhile
    finally:
        if child.poll() is None:  # an error above must not hide behind the kill
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    run = asyncio.run(_resume(served, tmp_path, run_id))
    assert run is not None
    with run:
        assert run.outcomes == {"succeeded": ROWS}
        ids = [r.custom_id for r in run.results()]
        assert len(ids) == len(set(ids)) == ROWS
    shards = [f"s{i:04d}" for i in range(ROWS // SHARD_ROWS)]
    assert sorted(_batches(served, run_id)) == shards, "one batch per shard"
