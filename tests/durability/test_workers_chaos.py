"""Three worker processes share a PostgreSQL store; one is SIGKILLed twice.

20,000 rows in 8 shards are enqueued with ``batchport submit --enqueue``; three
``batchport worker`` processes (each with its own ``BATCHPORT_HOME``) drive them against
one served emulator that fails 5 % of API calls. One worker is killed with SIGKILL at
two seeded random moments and started again each time. The run must end with one
outcome per row, exactly one batch per shard at the emulator, and the same answers as
the same input driven by a single worker.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from store._pg import fresh_schema

import batchport as bp
from batchport.store import open_store
from batchport_emulator import EmulatorThread

from .inputs import write_chat_input

ROOT = Path(__file__).resolve().parents[2]
ROWS = 20_000
SHARD_ROWS = 2_500  # 8 shards
SEED = int(os.environ.get("BATCHPORT_CHAOS_SEED", "20261207"))
EMULATOR = {
    "seed": 11,
    # every batch runs for a few seconds, so the kills land while shards are in flight
    "progression": {"kind": "throughput", "requests_per_s": 800.0, "validating_s": 0.5,
                    "finalizing_s": 0.5},
    "faults": {"api_error_rate": 0.05, "api_error_kinds": ["500", "429", "drop"]},
}  # fmt: skip


@pytest.fixture(scope="module")
def served() -> Iterator[EmulatorThread]:
    with EmulatorThread(EMULATOR) as emu:
        yield emu


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_chat_input(tmp_path_factory.mktemp("input") / "in.jsonl", ROWS)


def _cli(*args: str, home: Path) -> list[str]:
    return [sys.executable, "-m", "batchport", *args]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "BATCHPORT_HOME": str(home)}


def _enqueue(url: str, served: EmulatorThread, source: Path, run_id: str, home: Path) -> None:
    cmd = _cli("submit", str(source), "--enqueue", "--store", url, "--emulator-url", served.url,
               "--run-id", run_id, "--max-rows", str(SHARD_ROWS), "--poll-interval", "0.05",
               "--no-progress", home=home)  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=_env(home), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == run_id


def _worker(url: str, home: Path) -> subprocess.Popen[bytes]:
    cmd = _cli("worker", "--store", url, "--concurrency", "3", "--poll", "0.05",
               "--lease-ttl", "6", "--exit-when-idle", "4", home=home)  # fmt: skip
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(cmd, cwd=ROOT, env=_env(home), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def _wait_done(url: str, run_id: str, timeout: float = 300.0) -> str:
    store, _ = open_store(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = store.get_run(run_id).state
            if state in ("done", "failed", "cancelled"):
                return state
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not finish in {timeout:.0f}s")
    finally:
        store.close()


def _answers(url: str, run_id: str) -> list[tuple[str, str, str | None]]:
    with bp.open_run(run_id, store=url) as run:
        return [(r.custom_id, r.outcome.value, r.text) for r in run.results()]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_three_workers_one_killed_twice_end_like_one_worker(
    served: EmulatorThread, source: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    with fresh_schema() as url:
        _enqueue(url, served, source, "run-chaos", tmp_path / "submitter")
        homes = [tmp_path / f"worker{i}" for i in range(3)]
        workers = [_worker(url, h) for h in homes]
        kills = 0
        try:
            for _ in range(2):  # the victim is killed twice, at seeded random moments
                time.sleep(rng.uniform(0.5, 5.0))
                if workers[0].poll() is not None:
                    break  # the run already ended: nothing left to kill
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
                kills += 1
                workers[0] = _worker(url, homes[0])
            state = _wait_done(url, "run-chaos")
        finally:
            _stop(workers)
        assert kills >= 1, f"the run ended before any kill (seed {SEED})"
        assert state == "done", f"seed {SEED}"

        with bp.open_run("run-chaos", store=url) as run:
            counts = run.store.outcome_counts("run-chaos")
            shards = run.store.shards("run-chaos")
            assert sum(counts.values()) == ROWS and None not in counts
            assert len([s for s in shards if s.parent_id is None]) == 8
            assert all(s.lease_owner is None for s in shards)
        batches = [b for b in served.batches() if b["metadata"].get("batchport_run") == "run-chaos"]
        per_shard = Counter(b["metadata"]["batchport_shard"] for b in batches)
        assert set(per_shard) == {s.shard_id for s in shards}
        assert set(per_shard.values()) == {1}, f"a shard had two batches (seed {SEED})"
        chaos = _answers(url, "run-chaos")

        # the same input, one worker, no kills
        _enqueue(url, served, source, "run-calm", tmp_path / "submitter")
        single = _worker(url, tmp_path / "single")
        try:
            assert _wait_done(url, "run-calm") == "done"
        finally:
            _stop([single])
        calm = _answers(url, "run-calm")
    assert len(chaos) == ROWS
    assert chaos == calm
