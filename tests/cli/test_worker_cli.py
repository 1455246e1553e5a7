"""``submit --enqueue``, ``worker``, ``pause`` / ``unpause``, and how ``runs`` and
``status`` show who holds which shard."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import batchport as bp
from batchport.cli import main
from batchport.store import open_store
from batchport_emulator import EmulatorThread


def _input(tmp_path: Path, n: int = 9) -> Path:
    src = tmp_path / "in.jsonl"
    bp.write_requests(
        src,
        (
            bp.Request.build(f"q{i}", "/v1/chat/completions",
                             {"model": "gpt-4o-mini", "messages": [{"role": "user",
                                                                     "content": f"hi {i}"}]})
            for i in range(n)
        ),
    )  # fmt: skip
    return src


def test_enqueue_pause_work_unpause_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    with EmulatorThread() as emu:
        submit = ["submit", str(_input(tmp_path)), "--enqueue", "--emulator-url", emu.url,
                  "--home", home, "--run-id", "run-q", "--max-rows", "5", "--poll-interval",
                  "0.01", "--no-progress"]  # fmt: skip
        assert main(submit) == 0
        out = capsys.readouterr().out
        assert "enqueued 2 shard(s); `batchport worker` drives them" in out
        assert out.splitlines()[-1] == "run-q"
        assert emu.batches() == []  # nothing sent

        assert main(["pause", "run-q", "--home", home]) == 0
        assert main(["runs", "--home", home]) == 0
        assert "[paused]" in capsys.readouterr().out
        worker = ["worker", "--home", home, "--poll", "0.02", "--exit-when-idle", "0.3"]
        assert main(worker) == 0
        assert "0 shard(s) driven" in capsys.readouterr().out
        assert emu.batches() == []

        assert main(["unpause", "run-q", "--home", home]) == 0
        assert main(worker) == 0
        assert "2 shard(s) driven, 1 run(s) finished" in capsys.readouterr().out
        assert len(emu.batches()) == 2
        assert main(["status", "run-q", "--home", home]) == 0
        assert "run run-q: done" in capsys.readouterr().out


def test_runs_and_status_show_holders_and_stale_leases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    with EmulatorThread() as emu:
        assert main(["submit", str(_input(tmp_path)), "--enqueue", "--emulator-url", emu.url,
                     "--home", home, "--run-id", "run-l", "--max-rows", "5",
                     "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    store, _ = open_store(home)
    now = time.time()
    try:
        assert store.claim_shard("run-l", "s0000", "hostA:11:aa", now=now, expires=now + 600)
        assert store.claim_shard("run-l", "s0001", "hostB:22:bb", now=now - 700, expires=now - 100)
    finally:
        store.close()
    assert main(["runs", "--home", home]) == 0
    out = capsys.readouterr().out
    assert "[1 shard(s) held by 1 driver(s); 1 stale lease(s)]" in out
    held = [line.strip() for line in out.splitlines() if line.startswith("    s")]
    assert held[0].startswith("s0000") and "held by hostA:11:aa since" in held[0]
    assert held[1].startswith("s0001") and held[1].endswith("STALE")
    assert main(["status", "run-l", "--home", home]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = next(line for line in lines if "s0000" in line)
    second = next(line for line in lines if "s0001" in line)
    assert "held by hostA:11:aa since" in first and "STALE" not in first
    assert "held by hostB:22:bb since" in second and second.endswith("STALE")


def test_worker_refuses_bad_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "home")
    for option, value in (("--concurrency", "0"), ("--lease-ttl", "0"), ("--poll", "-1"),
                          ("--poll", "nan"), ("--exit-when-idle", "-1")):  # fmt: skip
        with pytest.raises(SystemExit) as stop:  # a usage error, before the store is opened
            main(["worker", "--home", home, option, value])
        assert stop.value.code == 2
        assert f"argument {option}:" in capsys.readouterr().err
    assert not Path(home).exists()
    assert main(["pause", "run-nope", "--home", home]) == 3
    assert "no run 'run-nope'" in capsys.readouterr().err
