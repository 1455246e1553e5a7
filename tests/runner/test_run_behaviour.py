"""Stalls, polling, progress, prices and the CLI."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import batchport as bp
from batchport.cli import main
from batchport.pricing import PriceTable
from batchport.runner import InstantClock, PollPolicy
from batchport.runner.progress import NullProgress, RichProgress, ShardView, choose_progress
from batchport.store import Store
from batchport_emulator import EmulatorThread

from .conftest import assert_one_outcome_each, chat


class _Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


class _Unstick(_Notes):
    """Records notes; the first stall note lets the emulator's stuck batches go."""

    def __init__(self, backend: Any) -> None:
        super().__init__()
        self.backend = backend

    def note(self, text: str) -> None:
        super().note(text)
        self.backend.emulator.configure({"faults": {"stuck_validating_rate": 0.0}})


async def test_stalled_shard_is_reported_cancelled_and_resubmitted(
    backend_factory: Any, home: Path
) -> None:
    be = backend_factory({"faults": {"stuck_validating_rate": 1.0}})
    sink = _Unstick(be)
    reqs = [chat(i) for i in range(10)]
    run = await bp.run(
        reqs,
        backend=be,
        home=home,
        clock=InstantClock(real_sleep=0.002),
        progress=sink,
        on_stall="cancel",
        poll=PollPolicy(interval=10, max_interval=60, stall_timeout=300),
    )
    assert any("stalled in validating" in n for n in sink.notes)
    assert_one_outcome_each(run, reqs)
    assert run.outcomes == {"succeeded": 10}
    assert {r.attempts for r in run.results()} == {2}
    statuses = sorted(b["status"] for b in be.emulator.batches())
    assert statuses == ["cancelled", "completed"]


async def test_stalled_shard_waits_when_asked(backend_factory: Any, home: Path) -> None:
    # validation takes 30 emulated seconds (0.3 s real); the runner calls that a stall
    # after 60 of its own virtual seconds, reports it, and keeps waiting
    be = backend_factory(
        {"clock": {"scale": 100.0}, "progression": {"kind": "throughput", "validating_s": 30.0}}
    )
    sink = _Notes()
    reqs = [chat(i) for i in range(5)]
    run = await bp.run(
        reqs,
        backend=be,
        home=home,
        clock=InstantClock(real_sleep=0.002),
        progress=sink,
        poll=PollPolicy(interval=10, max_interval=10, stall_timeout=60),
    )
    assert len(sink.notes) == 1
    assert "stalled in validating" in sink.notes[0]
    assert run.outcomes == {"succeeded": 5}
    assert [b["status"] for b in be.emulator.batches()] == ["completed"]


def test_poll_interval_backs_off_and_resets() -> None:
    p = PollPolicy(interval=2, max_interval=10, factor=2)
    seq = [p.next_interval(None, changed=False)]
    for _ in range(4):
        seq.append(p.next_interval(seq[-1], changed=False))
    assert seq == [2, 4, 8, 10, 10]
    assert p.next_interval(10, changed=True) == 2


async def test_api_errors_are_retried(backend_factory: Any, home: Path) -> None:
    be = backend_factory({"faults": {"api_error_rate": 0.3, "api_error_kinds": ["429", "500"]}})
    reqs = [chat(i) for i in range(10)]
    run = await bp.run(
        reqs,
        backend=be,
        home=home,
        clock=InstantClock(real_sleep=0.002),
        progress=False,
        api_retries=30,
    )
    assert run.outcomes == {"succeeded": 10}
    assert len(be.emulator.batches()) == 1


async def test_engine_call_waits_at_least_retry_after(home: Path) -> None:
    from batchport.errors import RateLimitError, ServerError
    from batchport.runner.engine import Engine
    from batchport.store import Store

    clock = InstantClock()
    engine = Engine(
        Store(home),
        "r",
        bp.EmulatorBackend(),
        bp.RunOptions(api_retries=3),
        clock=clock,
        progress=NullProgress(),
    )
    errors: list[Exception] = [RateLimitError("slow down", retry_after=42.0), ServerError("boom")]

    async def flaky() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    assert await engine.retry.call("test", flaky) == "ok"
    assert clock.slept[0] >= 42.0  # the provider's retry-after wins over the backoff
    assert len(clock.slept) == 2

    async def never() -> str:
        raise ServerError("down")

    with pytest.raises(ServerError):
        await engine.retry.call("test", never)
    assert len(clock.slept) == 2 + 3  # api_retries, then it gives up


def test_rich_progress_renders_rows_and_eta() -> None:
    out = io.StringIO()
    sink = RichProgress(Console(file=out, width=100, force_terminal=False))
    sink.start("run-x", 100, 0)
    sink.shard(ShardView("s0000", 100, "in_progress", 40, 2))
    sink.settled(42)
    sink.note("s0000: quota full, waiting 30s")
    sink.finish()
    text = out.getvalue()
    assert "run run-x: 42/100 rows settled" in text
    assert "in_progress" in text and "quota full" in text


def test_progress_is_silent_off_a_terminal() -> None:
    assert isinstance(choose_progress(None), NullProgress)  # pytest's stderr is not a TTY
    assert isinstance(choose_progress(False), NullProgress)
    assert isinstance(choose_progress(True), RichProgress)


def test_price_table_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps({"batch_discount": 0.5, "models": {"my-model": {"input": 2, "output": 4}}})
    )
    monkeypatch.setenv("BATCHPORT_PRICES", str(path))
    table = PriceTable.default()
    cost = table.cost("my-model-2025-01-01", input_tokens=1_000_000, output_tokens=500_000)
    assert (cost.realtime_usd, cost.batch_usd, cost.saved_usd) == (4.0, 2.0, 2.0)
    assert table.lookup("gpt-4o") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(bp.InputError, match="price table"):
        PriceTable.from_file(bad)


async def test_results_as_they_land_cover_every_row(backend_factory: Any, home: Path) -> None:
    reqs = [chat(i) for i in range(12)]
    run = await bp.run(
        reqs,
        backend=backend_factory(
            {"faults": {"row_failure_rate": 0.3, "row_failure_statuses": [500]}}
        ),
        home=home,
        clock=InstantClock(real_sleep=0.002),
        progress=False,
        max_attempts=6,
    )
    landed = [r.custom_id for r in run.results(order="landed")]
    assert sorted(landed) == sorted(q.custom_id for q in reqs)
    retried = {r.custom_id for r in run.results() if r.retried}
    # retried rows settle later than first-attempt ones
    assert retried and set(landed[-len(retried) :]) == retried


def _write_input(tmp_path: Path, n: int = 6) -> Path:
    path = tmp_path / "in.jsonl"
    reqs = [chat(i) for i in range(n)]
    reqs.append(chat(n, "fails [[emulator:status=400]]"))
    bp.write_requests(path, reqs)
    return path


def test_cli_run_status_results_runs_against_served_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write_input(tmp_path)
    home = tmp_path / "home"
    with EmulatorThread() as emu:
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test")
        code = main(
            [
                "run",
                str(src),
                "--backend",
                "openai",
                "--home",
                str(home),
                "--run-id",
                "run-cli",
                "--poll-interval",
                "0.01",
                "-o",
                str(tmp_path / "out.jsonl"),
                "--no-progress",
            ]
        )
        assert code == 1  # one row failed permanently: partial failure
        assert len(emu.batches()) == 1
    out = capsys.readouterr()
    assert "run id: run-cli" in out.err
    assert "succeeded 6" in out.out and "failed 1" in out.out
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in rows] == ["succeeded"] * 6 + ["failed"]

    assert main(["status", "run-cli", "--home", str(home)]) == 0
    assert "reconciled" in capsys.readouterr().out
    assert (
        main(
            [
                "results",
                "run-cli",
                "--home",
                str(home),
                "-o",
                str(tmp_path / "o.csv"),
                "--format",
                "csv",
            ]
        )
        == 1
    )
    assert (tmp_path / "o.csv").read_text().count("\n") == 8
    assert main(["runs", "--home", str(home)]) == 0
    assert "run-cli" in capsys.readouterr().out
    assert main(["status", "run-nope", "--home", str(home)]) == 3
    assert "no run 'run-nope'" in capsys.readouterr().err


def test_cli_submit_then_wait(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_input(tmp_path, 3)
    home = str(tmp_path / "home")
    with EmulatorThread() as emu:
        common = ["--emulator-url", emu.url, "--home", home, "--no-progress"]
        assert (
            main(["submit", str(src), "--run-id", "run-sw", "--poll-interval", "0.01", *common])
            == 0
        )
        assert "batchport wait run-sw" in capsys.readouterr().out
        assert len(emu.batches()) == 1
        assert main(["wait", "run-sw", *common]) == 1
        assert "failed 1, succeeded 3" in capsys.readouterr().out
        assert len(emu.batches()) == 1


def test_cli_plan_prints_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_input(tmp_path, 20)
    assert main(["plan", str(src), "--provider", "azure", "--max-rows", "8"]) == 0
    out = capsys.readouterr().out
    assert "21 rows in 3 shard(s)" in out
    assert "caveat: Azure" in out


def test_cli_cancel_keeps_finished_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    bp.write_requests(src, [chat(i) for i in range(60)])
    home = str(tmp_path / "home")
    slow = {
        "progression": {
            "kind": "throughput",
            "requests_per_s": 40.0,
            "validating_s": 0.0,
            "cancelling_s": 0.1,
        }
    }
    with EmulatorThread(slow) as emu:
        common = ["--emulator-url", emu.url, "--home", home, "--no-progress"]
        assert (
            main(["submit", str(src), "--run-id", "run-cx", "--poll-interval", "0.01", *common])
            == 0
        )
        for _ in range(200):  # let a few rows finish at the emulator
            if emu.batches()[0]["request_counts"]["completed"] >= 3:
                break
            time.sleep(0.02)
        assert main(["cancel", "run-cx", *common]) == 0
        assert [b["status"] for b in emu.batches()] == ["cancelled"]
    out = capsys.readouterr().out
    assert "cancelled" in out
    run = bp.Run(Store(home), "run-cx")
    outcomes = run.outcomes
    assert outcomes.get("succeeded", 0) >= 3
    assert outcomes.get("cancelled", 0) > 0
    assert sum(outcomes.values()) == 60
    assert run.state == "cancelled"


async def test_emulator_backend_polls_fast_unless_told_otherwise(
    backend_factory: Any, home: Path
) -> None:
    cfg = {"progression": {"kind": "after_polls", "polls": 2}}
    fast = InstantClock(real_sleep=0.002)
    await bp.run([chat(0)], backend=backend_factory(cfg), home=home, clock=fast, progress=False)
    assert fast.slept
    assert max(fast.slept) <= 1.0  # the emulator's hint, not the 5 s default
    told = InstantClock(real_sleep=0.002)
    await bp.run(
        [chat(0)],
        backend=backend_factory(cfg),
        home=home,
        clock=told,
        progress=False,
        poll=PollPolicy(interval=7, max_interval=7),
    )
    assert set(told.slept) == {7}


def test_cli_wait_and_cancel_find_the_served_emulator_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write_input(tmp_path, 3)
    home = str(tmp_path / "home")
    with EmulatorThread() as emu:
        args = ["--run-id", "run-url", "--poll-interval", "0.01", "--no-progress",
                "--reconnect-s", "42"]  # fmt: skip
        assert main(["submit", str(src), "--emulator-url", emu.url, "--home", home, *args]) == 0
        with Store(home) as store:  # the options given are the run's, for its resumes too
            assert bp.RunOptions.from_json(store.get_run("run-url").options).reconnect_s == 42
        # no --emulator-url: the run recorded where its batches are
        assert main(["wait", "run-url", "--home", home, "--no-progress"]) == 1
        assert "failed 1, succeeded 3" in capsys.readouterr().out
        assert len(emu.batches()) == 1


def test_cli_submit_refuses_an_embedded_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATCHPORT_BACKEND", raising=False)
    src = _write_input(tmp_path, 3)
    assert main(["submit", str(src), "--home", str(tmp_path / "home"), "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert "--emulator-url" in err and "batchport emulator serve" in err
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").glob("runs/*"))


async def test_a_run_stopped_by_an_error_says_failed_and_resumes(home: Path) -> None:
    from batchport.errors import ServerError

    async with bp.EmulatorBackend(
        {"faults": {"api_error_rate": 1.0, "api_error_kinds": ["500"]}}
    ) as be:
        with pytest.raises(ServerError):
            await bp.run([chat(i) for i in range(3)], backend=be, home=home, run_id="run-err",
                         clock=InstantClock(), progress=False, api_retries=1)  # fmt: skip
        with Store(home) as store:
            rec = store.get_run("run-err")
            assert rec.state == "failed"
            assert "500" in (rec.error or "")
        assert be.emulator is not None
        be.emulator.configure({"faults": {"api_error_rate": 0.0}})
        run = await bp.resume("run-err", backend=be, home=home,
                              clock=InstantClock(real_sleep=0.002), progress=False)  # fmt: skip
        with run:
            assert run.state == "done"
            assert run.outcomes == {"succeeded": 3}
            assert run.store.get_run("run-err").error is None


def test_cli_mistakes_record_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert main(["run", str(tmp_path / "missing.jsonl"), "--home", str(home), "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert "missing.jsonl: file_not_readable: no such file" in err
    src = _write_input(tmp_path, 2)
    assert main(["run", str(src), "--backend", "opnai", "--home", str(home), "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert "unknown backend 'opnai'" in err and "run id:" not in err
    assert main(["runs", "--home", str(home)]) == 0
    assert capsys.readouterr().out == ""  # nothing was recorded for either mistake


@pytest.mark.parametrize(
    ("option", "value"),
    [("--poll-interval", "0"), ("--poll-interval", "-1"), ("--poll-interval", "nan"),
     ("--poll-interval", "inf"), ("--max-cost", "nan"), ("--max-cost", "-5"),
     ("--max-rows", "0"), ("--max-rows", "-1"), ("--max-tokens", "0"),
     ("--realtime-rpm", "0"), ("--realtime-tpm", "-5"), ("--max-attempts", "0"),
     ("--concurrency", "0"), ("--reconnect-s", "-1"), ("--wait-for-lock", "-5")],
)  # fmt: skip
def test_cli_numbers_out_of_range_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    """A poll interval of 0 would poll without pause, a NaN cost cap would switch the
    check off, a cap of 0 rows would be ignored: each is refused as a usage error
    (exit 2) naming the option, before a run is announced or recorded."""
    src = _write_input(tmp_path, 2)
    home = tmp_path / "home"
    with pytest.raises(SystemExit) as stop:
        main(["run", str(src), "--home", str(home), "--no-progress", option, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}:" in err and "run id:" not in err
    assert not home.exists()


@pytest.mark.parametrize("run_id", ["../../x", "a/b", "", " r", "r\n", "é", "x" * 129, ".hidden"])
async def test_a_run_id_that_cannot_name_files_and_tags_is_refused_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    """A run id names the run's folder, its files and its tags at the provider: one
    with a '/' or '..' once left a run stuck in planning. Refused first, nothing kept."""
    home = tmp_path / "home"
    with pytest.raises(bp.InputError, match="a run id is a letter or digit"):
        await bp.run([chat(1)], backend="memory", home=home, run_id=run_id, progress=False)
    assert not home.exists()
    src = _write_input(tmp_path, 1)
    assert main(["run", str(src), "--home", str(home), "--run-id", run_id, "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert "a run id is a letter or digit" in err and "run id:" not in err
    assert not home.exists()


def test_a_file_name_that_is_no_utf8_runs_and_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name with a byte that is no UTF-8 (os.fsdecode gives it a lone surrogate) was an
    internal error in `run` (the store's text) and in `validate --json`."""
    src = _write_input(tmp_path, 2)
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/in\xffput.jsonl"))
    src.rename(odd)
    with EmulatorThread() as emu:
        args = ["run", str(odd), "--emulator-url", emu.url, "--home", str(tmp_path / "h"),
                "--no-progress"]  # fmt: skip
        assert main(args) == 1  # one row is made to fail
    assert "succeeded 2" in capsys.readouterr().out
    assert main(["validate", str(odd), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_a_full_disk_under_the_store_is_an_error_to_resume_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's database refusing a write (its disk is full) stops the command with
    exit 3 and says how to go on, not as an internal error; resume then completes."""
    src = _write_input(tmp_path, 2)
    home = str(tmp_path / "home")

    def full(*args: Any, **kwargs: Any) -> int:
        raise sqlite3.OperationalError("database or disk is full")

    with EmulatorThread() as emu:
        common = ["--emulator-url", emu.url, "--home", home, "--no-progress"]
        with monkeypatch.context() as patch:
            patch.setattr(Store, "settle_rows", full)
            assert main(["run", str(src), "--run-id", "r-full", *common]) == 3
        err = capsys.readouterr().err
        assert "the run store failed" in err and "batchport resume r-full" in err
        assert "internal error" not in err
        assert main(["resume", "r-full", *common]) == 1  # one row is made to fail
    assert "succeeded 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fields",
    [{"poll": PollPolicy(interval=0)}, {"poll": PollPolicy(interval=float("nan"))},
     {"poll": PollPolicy(interval=5, max_interval=1)}, {"poll": PollPolicy(factor=0.5)},
     {"max_rows_per_shard": 0}, {"max_tokens_per_shard": -1}, {"realtime_rpm": 0},
     {"max_cost": float("nan")}, {"max_cost": -1.0}],
)  # fmt: skip
def test_run_options_out_of_range_are_input_errors(fields: dict[str, Any]) -> None:
    with pytest.raises(bp.InputError):
        bp.RunOptions(**fields)


def test_cli_azure_route_and_bad_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _write_input(tmp_path, 2)
    home = str(tmp_path / "home")
    bad_out = str(tmp_path / "no-such-dir" / "out.jsonl")
    with EmulatorThread() as emu:
        common = ["--emulator-url", emu.url, "--home", home, "--no-progress"]
        assert main(["run", str(src), "-o", bad_out, *common]) == 3
        assert "is not a writable folder" in capsys.readouterr().err
        assert emu.batches() == []  # refused before anything was submitted
        assert main(["run", str(src), "--backend", "azure", *common]) == 3
        assert "--backend azure with AZURE_OPENAI_ENDPOINT" in capsys.readouterr().err
    # the CLI route to Azure: --deployment MODEL=DEPLOYMENT against the Azure dialect
    config = {"azure": {"deployments": [{"name": "mini-batch"}]}}
    with EmulatorThread(config) as emu:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", emu.url)
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azk-cli")
        args = ["run", str(src), "--backend", "azure", "--deployment", "gpt-4o-mini=mini-batch",
                "--home", home, "--no-progress", "--poll-interval", "0.01"]  # fmt: skip
        assert main(args) == 1  # one row asks for a forced failure
        out = capsys.readouterr().out
        assert "on backend azure:" in out and "succeeded 2" in out
        assert [b["dialect"] for b in emu.batches()] == ["azure"]
        with Store(home) as store:
            (rec,) = [r for r in store.list_runs() if r.backend == "azure"]
            assert [s.model for s in store.shards(rec.id)] == ["mini-batch"]
    assert main(["run", str(src), "--deployment", "gpt-4o=x", "--home", home]) == 3
    assert "--deployment goes with --backend azure" in capsys.readouterr().err


def test_cli_output_that_is_the_input_or_the_store_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o naming the input file or a file of the run store would destroy it: refused
    before anything is sent, both left as they were."""
    src = _write_input(tmp_path, 2)
    before = src.read_bytes()
    home = tmp_path / "home"
    with EmulatorThread() as emu:
        common = ["--emulator-url", emu.url, "--home", str(home), "--no-progress"]
        assert main(["run", str(src), "-o", str(src), *common]) == 3
        assert "it is the input file" in capsys.readouterr().err
        same = str(tmp_path / "." / "in.jsonl")  # the same file by another spelling
        assert main(["run", str(src), "-o", same, *common]) == 3
        capsys.readouterr()
        assert main(["run", str(src), "--run-id", "r1", *common]) == 1  # the store exists
        capsys.readouterr()
        for target in (home / "batchport.sqlite3", home / "batchport.sqlite3-wal",
                       home / "runs" / "r1" / "x.jsonl"):  # fmt: skip
            assert main(["results", "r1", "--home", str(home), "-o", str(target)]) == 3
            assert "is a file of the run store" in capsys.readouterr().err
        assert len(emu.batches()) == 1  # only the run that was let through
    assert src.read_bytes() == before
    assert main(["status", "r1", "--home", str(home)]) == 0  # the store still reads
    # a path beside the store's files, in its folder, is the caller's to use
    assert main(["results", "r1", "--home", str(home), "-o", str(home / "out.jsonl")]) == 1
    assert len((home / "out.jsonl").read_text().splitlines()) == 3


def test_cli_results_to_a_pipe_write_into_it(tmp_path: Path) -> None:
    """A target that is no regular file (a named pipe, a device) is written in place,
    not replaced by a file renamed over it."""
    src = _write_input(tmp_path, 2)
    home = str(tmp_path / "home")
    with EmulatorThread() as emu:
        main(["run", str(src), "--run-id", "r2", "--emulator-url", emu.url, "--home", home,
              "--no-progress"])  # fmt: skip
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert main(["results", "r2", "--home", home, "-o", str(fifo)]) == 1
    reader.join(30)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert len(got[0].splitlines()) == 3


def test_cli_stops_quietly_when_its_reader_goes_away(tmp_path: Path) -> None:
    """`batchport results RUN -o - | head -1`: exit 141, and no traceback or
    'Exception ignored' from a generator finalized after its store closed."""
    src = tmp_path / "in.jsonl"
    bp.write_requests(src, [chat(i, "x" * 2000) for i in range(400)])
    home = str(tmp_path / "home")
    with EmulatorThread() as emu:
        main(["run", str(src), "--run-id", "r3", "--emulator-url", emu.url, "--home", home,
              "--no-progress"])  # fmt: skip
    for args in (["results", "r3", "-o", "-"], ["status", "r3"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "batchport", *args, "--home", home],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # as `head -1` does
        err = proc.stderr.read().decode()
        proc.stderr.close()
        # results fill the pipe, so they meet its closed end; status may have written
        # all it had before the close, and then ends well
        assert proc.wait(60) in ((141,) if args[0] == "results" else (0, 141)), err
        assert "Traceback" not in err and "Exception ignored" not in err, err


def test_plan_refuses_what_run_refuses(tmp_path: Path) -> None:
    """A plan is what a run would submit: an input a run refuses before sending
    anything (a custom_id twice, no request, a request the provider refuses) is refused
    by the plan too, with the same rule, where it planned without a word."""
    with pytest.raises(bp.InputError, match="appears more than once") as dup:
        bp.plan([chat(1), chat(2), chat(1)])
    assert (dup.value.rule, dup.value.line) == ("duplicate_custom_id", 3)
    with pytest.raises(bp.InputError, match="no requests"):
        bp.plan([])
    get = dataclasses.replace(chat(2), method="GET")
    bad_url = dataclasses.replace(chat(3), url="/v1/foo")
    with pytest.raises(bp.ValidationFailed) as failed:
        bp.plan([chat(1), get, bad_url])
    assert [p.line for p in failed.value.problems] == [2, 3]
    assert bp.plan([chat(1), chat(2)]).total_rows == 2


def test_wrong_option_names_are_config_errors(home: Path) -> None:
    with pytest.raises(bp.ConfigError, match=r"unknown run option.*'max_rows'.*max_rows_per_shard"):
        bp.plan([chat(1)], max_rows=5)
    assert bp.plan([chat(i) for i in range(4)], max_rows_per_shard=2).shards[1].rows == 2


def test_cli_results_to_stdout_format_from_extension_and_forget(
    tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    src = _write_input(tmp_path, 2)
    home = str(tmp_path / "home")
    with EmulatorThread() as emu:
        common = ["--emulator-url", emu.url, "--home", home, "--no-progress"]
        main(["run", str(src), "--run-id", "run-out", "-o", str(tmp_path / "r.csv"), *common])
    assert (tmp_path / "r.csv").read_text().startswith("backend,index,")  # csv by extension
    capfdbinary.readouterr()
    assert main(["results", "run-out", "--home", home, "-o", "-"]) == 1
    captured = capfdbinary.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 3 and all(line.startswith(b'{"backend"') for line in lines)
    assert b"run run-out on backend" in captured.err  # the summary stays off stdout
    assert main(["forget", "run-out", "--home", home]) == 0
    assert main(["status", "run-out", "--home", home]) == 3
    assert not (Path(home) / "runs" / "run-out").exists()


def test_cli_forget_refuses_an_unfinished_run_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    with Store(home) as store:
        store.create_run("run-open", backend="emulator", provider="openai", fingerprint="",
                         options="{}")  # fmt: skip
    assert main(["forget", "run-open", "--home", str(home)]) == 3
    assert "loses track of batches" in capsys.readouterr().err
    assert main(["forget", "run-open", "--home", str(home), "--force"]) == 0


async def test_a_run_of_many_shards_reads_each_record_a_fixed_number_of_times(
    backend_factory: Any, home: Path, clock: InstantClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each time a shard ends the driver looks for open shards; it reads their ids and
    states, not every shard record of the run again (a thousand shards would mean a
    million records read over the run)."""
    read: list[str] = []
    shards, open_shards = Store.shards, Store.open_shards

    def counted_shards(self: Store, run_id: str) -> Any:
        read.append("shards")
        return shards(self, run_id)

    def counted_open(self: Store, run_id: str) -> Any:
        read.append("open")
        return open_shards(self, run_id)

    monkeypatch.setattr(Store, "shards", counted_shards)
    monkeypatch.setattr(Store, "open_shards", counted_open)
    reqs = [chat(i) for i in range(40)]
    run = await bp.run(reqs, backend=backend_factory({}), home=home, max_rows_per_shard=1,
                       progress=False, clock=clock)  # fmt: skip
    with run:
        assert run.state == "done"
        assert len(run.store.shards(run.id)) == 40
        assert_one_outcome_each(run, reqs)
    assert read.count("shards") <= 4  # starting, sweeping, finishing: not once per shard
    assert read.count("open") > 10  # looked again as shards ended
