"""One driver per run: a second process is refused or waits, a dead holder's lease is
taken over, and a holder that lost its lease stops."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.memory import MemoryBackend
from batchport.runner import InstantClock
from batchport.runner.lease import LeaseLost, RunBusy, drive_with_lease, hold_lease
from batchport.store import Lease, Store
from batchport_emulator import EmulatorThread

from .conftest import chat

ROOT = Path(__file__).resolve().parents[2]
SLOW = {"progression": {"kind": "after_polls", "polls": 40}}


def _lease(run_id: str, *, host: str, pid: int, expires_in: float) -> Lease:
    now = time.time()
    return Lease(run_id, f"{host}:{pid}:test", host, pid, now, now, now + expires_in)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


async def _wait_for_lease(home: Path, run_id: str) -> Lease:
    for _ in range(2000):
        with Store(home) as store:
            held = store.get_lease(run_id)
        if held is not None:
            return held
        await asyncio.sleep(0.005)
    raise AssertionError("the first driver never took the lease")


async def test_a_second_driver_is_refused_then_runs_once_the_first_is_done(home: Path) -> None:
    reqs = [chat(i) for i in range(6)]
    async with EmulatorBackend(SLOW) as be:
        clock = InstantClock(real_sleep=0.005)
        first = asyncio.create_task(
            bp.run(reqs, backend=be, home=home, run_id="run-busy", clock=clock, progress=False)
        )
        holder = await _wait_for_lease(home, "run-busy")
        assert holder.pid == os.getpid()
        with pytest.raises(RunBusy, match=f"pid {os.getpid()} on {socket.gethostname()}"):
            await bp.resume("run-busy", backend=be, home=home, progress=False)
        with pytest.raises(RunBusy):  # the same run id started again is refused too
            await bp.run(reqs, backend=be, home=home, run_id="run-busy", progress=False)
        run = await first
        run.close()
        assert be.emulator is not None and len(be.emulator.batches()) == 1
    with Store(home) as store:
        assert store.get_lease("run-busy") is None  # released on the way out


async def test_wait_for_lock_waits_for_the_holder_and_submits_nothing_twice(home: Path) -> None:
    reqs = [chat(i) for i in range(6)]
    async with EmulatorBackend(SLOW) as be:
        clock = InstantClock(real_sleep=0.005)
        first = asyncio.create_task(
            bp.run(reqs, backend=be, home=home, run_id="run-wait", clock=clock, progress=False)
        )
        await _wait_for_lease(home, "run-wait")
        second = await bp.resume(
            "run-wait", backend=be, home=home, progress=False, wait_for_lock=60
        )
        assert first.done()  # it waited for the first driver to finish
        (await first).close()
        with second:
            assert second.state == "done"
            assert second.outcomes == {"succeeded": 6}
        assert be.emulator is not None and len(be.emulator.batches()) == 1


async def test_a_dead_holders_lease_is_taken_over(home: Path) -> None:
    with Store(home) as store:
        store.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
        store.take_lease(_lease("r", host=socket.gethostname(), pid=_dead_pid(), expires_in=600),
                         now=time.time())  # fmt: skip
        async with hold_lease(store, "r") as mine:
            assert mine.pid == os.getpid()
            assert store.get_lease("r") == mine


async def test_a_lease_left_by_a_stopped_driver_of_this_process_is_taken_over(
    home: Path,
) -> None:
    """A driver whose store connection dropped could not release its lease; once it
    has stopped, another driver of the same process takes the lease at once."""
    with Store(home) as store:
        store.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
        store.take_lease(_lease("r", host=socket.gethostname(), pid=os.getpid(), expires_in=600),
                         now=time.time())  # fmt: skip
        async with hold_lease(store, "r") as mine:
            assert mine.owner != f"{socket.gethostname()}:{os.getpid()}:test"
            assert store.get_lease("r") == mine


async def test_another_hosts_lease_holds_until_it_expires(home: Path) -> None:
    with Store(home) as store:
        store.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
        store.take_lease(_lease("r", host="elsewhere", pid=1, expires_in=600), now=time.time())
        with pytest.raises(RunBusy, match="pid 1 on elsewhere"):
            async with hold_lease(store, "r"):
                pass
        store.release_lease("r", "elsewhere:1:test")
        store.take_lease(_lease("r", host="elsewhere", pid=1, expires_in=-1), now=time.time())
        async with hold_lease(store, "r") as mine:  # expired: no renewal came
            assert mine.host == socket.gethostname()


async def test_a_driver_that_lost_its_lease_stops(home: Path) -> None:
    started = asyncio.Event()
    finished: list[bool] = []

    async def work() -> None:
        started.set()
        await asyncio.sleep(30)
        finished.append(True)

    with Store(home) as store:
        store.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
        driving = asyncio.create_task(drive_with_lease(store, "r", work, ttl=0.3))
        await started.wait()
        # another worker takes the run over (as after an expiry it would)
        store.release_lease("r", store.get_lease("r").owner)  # type: ignore[union-attr]
        store.take_lease(_lease("r", host="elsewhere", pid=2, expires_in=600), now=time.time())
        with pytest.raises(LeaseLost):
            await driving
        assert not finished  # the work was cancelled, not left running


@pytest.fixture(scope="module")
def served() -> Iterator[EmulatorThread]:
    with EmulatorThread(SLOW) as emu:
        yield emu


CHILD = """
import asyncio, sys
import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.memory import MemoryBackend
from batchport.runner import PollPolicy
reqs = [bp.Request.build(f"r{i}", "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": str(i)}]})
        for i in range(6)]
async def main():
    async with EmulatorBackend(url=sys.argv[1]) as be:
        await bp.run(reqs, backend=be, home=sys.argv[2], run_id="run-proc", progress=False,
                     poll=PollPolicy(interval=60, max_interval=60))
asyncio.run(main())
"""


async def test_another_process_is_refused_then_its_run_taken_over_when_killed(
    served: EmulatorThread, home: Path
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, served.url, str(home), cwd=ROOT
    )
    try:
        holder = await _wait_for_lease(home, "run-proc")
        assert holder.pid == child.pid
        for _ in range(2000):  # let it submit before it is killed
            if served.batches():
                break
            await asyncio.sleep(0.005)
        async with EmulatorBackend(url=served.url) as be:
            with pytest.raises(RunBusy, match=f"pid {child.pid}"):
                await bp.resume("run-proc", backend=be, home=home, progress=False)
            child.send_signal(signal.SIGKILL)
            await asyncio.wait_for(child.wait(), 30)
            clock = InstantClock(real_sleep=0.002)
            run = await bp.resume("run-proc", backend=be, home=home, clock=clock, progress=False)
        with run:
            assert run.outcomes == {"succeeded": 6}
        assert len(served.batches()) == 1  # taken over, not submitted again
    finally:
        if child.returncode is None:
            child.kill()
            await asyncio.wait_for(child.wait(), 30)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("named", "sigint_ignored"),
    [(True, False), (False, False), (True, True)],
    ids=["named", "generated-id", "sigint-ignored"],
)
async def test_sigterm_stops_a_cli_run_like_ctrl_c_and_frees_the_run(
    served: EmulatorThread, home: Path, tmp_path: Path, named: bool, sigint_ignored: bool
) -> None:
    """SIGTERM stops a run (exit 143) and names the run to resume: with the id it was
    given or the one it made, and also where SIGINT is ignored (a job started with &
    from a script), where stopping as on Ctrl-C would not stop it at all."""
    src = tmp_path / "in.jsonl"
    bp.write_requests(src, [chat(i) for i in range(4)])
    cmd = [sys.executable, "-m", "batchport", "run", str(src), "--emulator-url", served.url,
           "--home", str(home), "--no-progress"]  # fmt: skip
    if named:
        cmd += ["--run-id", "run-term"]
    child = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )
    assert child.stderr is not None
    first = (await asyncio.wait_for(child.stderr.readline(), 60)).decode()
    assert first.startswith("run id: ")
    run_id = first.removeprefix("run id: ").strip()
    assert run_id == "run-term" or not named
    await _wait_for_lease(home, run_id)
    child.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 143
    assert f"batchport resume {run_id}" in err.decode()
    assert "Traceback" not in err.decode()
    with Store(home) as store:
        assert store.get_lease(run_id) is None  # released on the way out
    async with EmulatorBackend(url=served.url) as be:
        clock = InstantClock(real_sleep=0.002)
        run = await bp.resume(run_id, backend=be, home=home, clock=clock, progress=False)
    with run:
        assert run.outcomes == {"succeeded": 4}


async def test_a_long_preparation_renews_the_lease_as_it_goes(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_add, real_renew = Store.add_rows, Store.renew_lease

    def slow_add(self: Store, run_id: str, rows: Any) -> None:
        real_add(self, run_id, rows)
        time.sleep(0.15)  # a big input: the event loop (and its renewals) cannot run

    def renew(self: Store, *args: Any, **kwargs: Any) -> bool:
        events.append("renew")
        return real_renew(self, *args, **kwargs)

    class Recording(MemoryBackend):
        async def submit(self, spec: Any, checkpoint: Any) -> Any:
            events.append("submit")
            return await super().submit(spec, checkpoint)

    monkeypatch.setattr(Store, "add_rows", slow_add)
    monkeypatch.setattr(Store, "renew_lease", renew)
    reqs = [chat(i) for i in range(20_000)]
    async with Recording() as be:
        run = await bp.run(reqs, backend=be, home=home, clock=InstantClock(), progress=False,
                           lease_ttl_s=0.3)  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": 20_000}
    before_submit = events[: events.index("submit")]
    # renewed from inside the preparation, not only once the loop got control back
    assert before_submit.count("renew") >= 3, events[:10]
