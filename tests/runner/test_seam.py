"""The runner over the backend seam: results it refuses to guess at, one retry layer,
translation after planning (Azure deployments), and objects safe across threads."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI

import batchport as bp
from batchport.backends.azure import DEFAULT_API_VERSION, AzureBackend
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.memory import MemoryBackend
from batchport.backends.models import Job, JobStatus, Outcome, ResultRow, ShardSpec
from batchport.backends.openai import OpenAIBackend
from batchport.cli import main
from batchport.errors import RunError, ServerError, TransportError
from batchport.jsonl import write_requests
from batchport.runner import InstantClock, PollPolicy
from batchport.runner.progress import NullProgress
from batchport.store import Store
from batchport_emulator import Emulator, EmulatorThread

from .conftest import chat


class ForeignLines(EmulatorBackend):
    """Hands the runner result files in another provider's line shape (Anthropic's),
    as a misconfigured or naive backend would."""

    foreign = True

    async def stream_file(self, file_id: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        data = b"".join([chunk async for chunk in super().stream_file(file_id)])
        for line in data.splitlines():
            obj = orjson.loads(line)
            if self.foreign:
                body = (obj.get("response") or {}).get("body")
                obj = {
                    "custom_id": obj["custom_id"],
                    "result": {"type": "succeeded", "message": body},
                }
            yield orjson.dumps(obj) + b"\n"


async def test_foreign_result_lines_stop_the_run_and_nothing_is_resubmitted(home: Path) -> None:
    reqs = [chat(i) for i in range(6)]
    async with ForeignLines() as be:
        with pytest.raises(RunError) as caught:
            await bp.run(
                reqs,
                backend=be,
                home=home,
                run_id="run-foreign",
                clock=InstantClock(real_sleep=0.002),
                progress=False,
            )
        message = str(caught.value)
        assert "shard s0000" in message
        assert ":1: result_no_outcome" in message  # the file and line at fault
        assert "nothing was resubmitted" in message
        assert be.emulator is not None
        assert len(be.emulator.batches()) == 1
        with Store(home) as store:
            assert store.outcome_counts("run-foreign") == {None: 6}  # nothing guessed
            assert [s.state for s in store.shards("run-foreign")] == ["finished"]
        # once the backend reads its own wire, the same run resumes from the same job
        be.foreign = False
        run = await bp.resume("run-foreign", backend=be, home=home, clock=InstantClock())
        assert run.outcomes == {"succeeded": 6}
        assert len(be.emulator.batches()) == 1
        run.close()


def test_foreign_result_lines_exit_3_from_the_cli(tmp_path: Path, capsys: Any) -> None:
    bp.register_backend("test-foreign-lines", ForeignLines, replace=True)
    src = tmp_path / "in.jsonl"
    write_requests(src, [chat(i) for i in range(3)])
    home = tmp_path / "home"
    code = main(["run", str(src), "--backend", "test-foreign-lines", "--home", str(home),
                 "--no-progress", "--run-id", "run-cli"])  # fmt: skip
    assert code == 3
    err = capsys.readouterr().err
    assert "result_no_outcome" in err
    assert "Traceback" not in err
    with Store(home) as store:
        assert store.outcome_counts("run-cli") == {None: 3}


async def test_results_naming_a_stranger_are_refused(home: Path) -> None:
    def respond(request: dict[str, Any]) -> ResultRow:
        return ResultRow(custom_id="someone-else", outcome=Outcome.SUCCEEDED, status_code=200)

    async with MemoryBackend(respond) as be:
        with pytest.raises(RunError, match="result_unknown_custom_id"):
            await bp.run([chat(1)], backend=be, home=home, clock=InstantClock(), progress=False)
        assert len(be.jobs) == 1


async def test_one_failing_call_costs_api_retries_plus_one_attempts(home: Path) -> None:
    sent: list[str] = []

    async def record(request: httpx2.Request) -> None:
        sent.append(f"{request.method} {request.url.path}")

    config = {"faults": {"api_error_rate": 1.0, "api_error_kinds": ["500"]}}
    clock = InstantClock()
    async with Emulator(config) as emu:
        http = httpx2.AsyncClient(event_hooks={"request": [record]})
        client = AsyncOpenAI(base_url=emu.base_url, api_key="sk-count", http_client=http)
        async with client, OpenAIBackend(client) as be:
            with pytest.raises(ServerError):
                await bp.run(
                    [chat(1)], backend=be, home=home, clock=clock, progress=False, api_retries=2
                )
    # three attempts at staging the upload, no SDK retries beneath them: the first
    # uploads, each later one first looks for an upload that may have landed after all
    assert sent == ["POST /v1/files", "GET /v1/files", "GET /v1/files"]
    assert len(clock.slept) == 2  # and the waits were the runner's, on its clock


@pytest.fixture
async def azure(tmp_path: Path) -> AsyncIterator[AzureBackend]:
    config = {"azure": {"deployments": [{"name": "mini-batch"}]}}
    async with Emulator(config) as emu:
        client = AsyncAzureOpenAI(
            azure_endpoint=emu.url, api_key="azk-seam", api_version=DEFAULT_API_VERSION
        )
        async with client, AzureBackend(client, deployments={"gpt-4o-mini": "mini-batch"}) as be:
            yield be


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


async def test_azure_run_prices_the_callers_model_and_reruns(
    azure: AzureBackend, home: Path
) -> None:
    reqs = [chat(i) for i in range(4)]
    kw: dict[str, Any] = {"backend": azure, "home": home, "clock": InstantClock(real_sleep=0.002),
                          "progress": False, "run_id": "run-az"}  # fmt: skip
    run = await bp.run(reqs, **kw)
    assert run.outcomes == {"succeeded": 4}
    assert run.cost.priced  # priced by gpt-4o-mini, not by the deployment's name
    assert run.cost.batch_usd > 0
    with Store(home) as store:
        (shard,) = store.shards("run-az")
        assert (shard.model, shard.caller_model) == ("mini-batch", "gpt-4o-mini")
    # the same run id with the same input is the same run, not "the input differs"
    again = await bp.run(reqs, **kw)
    assert again.outcomes == {"succeeded": 4}
    resumed = await bp.resume("run-az", backend=azure, home=home, requests=reqs)
    assert resumed.state == "done"
    for r in (run, again, resumed):
        r.close()


async def test_azure_max_cost_uses_the_same_estimate_as_plan(
    azure: AzureBackend, home: Path
) -> None:
    reqs = [chat(i) for i in range(4)]
    estimate = bp.plan(reqs, backend=azure).cost
    assert estimate.priced
    over = estimate.batch_usd * 1.001
    run = await bp.run(reqs, backend=azure, home=home, clock=InstantClock(real_sleep=0.002),
                       progress=False, max_cost=over)  # fmt: skip
    assert run.outcomes == {"succeeded": 4}
    run.close()
    with pytest.raises(RunError, match="exceeds max_cost"):
        await bp.run(reqs, backend=azure, home=home, progress=False,
                     max_cost=estimate.batch_usd * 0.999)  # fmt: skip


def test_run_sync_without_a_loop(home: Path) -> None:
    run = bp.run_sync([chat(i) for i in range(3)], backend="memory", home=home,
                      clock=InstantClock(), progress=False, run_id="run-s")  # fmt: skip
    with run:
        assert run.outcomes == {"succeeded": 3}
        assert [r.text is not None for r in run.results()] == [True] * 3
    again = bp.resume_sync("run-s", backend="memory", home=home)
    with again:
        assert again.state == "done"


async def test_sync_twins_inside_a_running_loop(home: Path) -> None:
    # as in a notebook: the work runs on the portal's thread, the Run is read on ours
    asyncio.get_running_loop()
    reqs = [chat(i) for i in range(3)]
    run = bp.run_sync(reqs, backend="memory", home=home, clock=InstantClock(), progress=False,
                      run_id="run-nb")  # fmt: skip
    with run:
        assert run.state == "done"
        assert run.outcomes == {"succeeded": 3}
        assert run.usage.input_tokens > 0
        assert len(list(run.results())) == 3
        assert "run-nb" in run.summary()
    resumed = bp.resume_sync("run-nb", backend="memory", home=home)
    with resumed:
        assert resumed.outcomes == {"succeeded": 3}
    cancelled = bp.cancel_sync("run-nb", backend="memory", home=home)
    with cancelled:
        assert cancelled.state == "done"  # a finished run stays as it was


class Mystery(MemoryBackend):
    """A provider whose first job answers a status nobody mapped, forever."""

    async def poll(self, job: Job) -> Job:
        current = self.jobs[job.id]
        if job.id == "mem-1" and current.status is not JobStatus.CANCELLED:
            return dataclasses.replace(current, status=JobStatus.UNKNOWN)
        return await super().poll(job)


async def test_a_job_stuck_in_unknown_is_a_stall_not_an_endless_poll(home: Path) -> None:
    notes: list[str] = []

    class Notes(NullProgress):
        def note(self, text: str) -> None:
            notes.append(text)

    reqs = [chat(i) for i in range(4)]
    async with Mystery() as be:
        run = await bp.run(
            reqs,
            backend=be,
            home=home,
            clock=InstantClock(),
            progress=Notes(),
            on_stall="cancel",
            poll=PollPolicy(interval=10, max_interval=60, stall_timeout=300),
        )
        with run:
            assert any("stalled in unknown" in n for n in notes)
            assert run.outcomes == {"succeeded": 4}
            assert {r.attempts for r in run.results()} == {2}
        assert [j.status for j in be.jobs.values()] == [JobStatus.CANCELLED, JobStatus.COMPLETED]


class CutShort(EmulatorBackend):
    """Ends the output file cleanly a few lines early, ``cuts`` times (a download cut
    short at a line boundary: every line reads, but rows are missing)."""

    def __init__(self, cuts: int) -> None:
        super().__init__({"progression": {"kind": "after_polls", "polls": 1}})
        self.cuts = cuts
        self.fetches = 0

    async def stream_file(self, file_id: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        data = b"".join([chunk async for chunk in super().stream_file(file_id)])
        self.fetches += 1
        if self.cuts > 0:
            self.cuts -= 1
            data = b"".join(data.splitlines(keepends=True)[:-2])
        yield data


async def test_results_cut_short_are_fetched_again(home: Path) -> None:
    reqs = [chat(i) for i in range(8)]
    async with CutShort(cuts=1) as be:
        run = await bp.run(reqs, backend=be, home=home, clock=InstantClock(), progress=False)
        with run:
            assert run.outcomes == {"succeeded": 8}  # nothing guessed "missing", nothing resent
        assert be.fetches == 2
        assert be.emulator is not None and len(be.emulator.batches()) == 1


async def test_results_always_short_stop_the_run_unsettled(home: Path) -> None:
    reqs = [chat(i) for i in range(8)]
    async with CutShort(cuts=99) as be:
        with pytest.raises(RunError, match="result_truncated"):
            await bp.run(
                reqs, backend=be, home=home, clock=InstantClock(), progress=False, run_id="run-cut"
            )
        assert be.emulator is not None and len(be.emulator.batches()) == 1
    with Store(home) as store:
        assert store.outcome_counts("run-cut") == {None: 8}


class LosesCreateResponse(EmulatorBackend):
    """The batch is created, but the answer never reaches the runner."""

    async def create_batch(self, spec: ShardSpec, file_id: str) -> Job:
        await super().create_batch(spec, file_id)
        raise TransportError("connection reset after the request was sent")

    async def find(self, spec: ShardSpec, checkpoint: Mapping[str, str]) -> Job | None:
        return None  # the provider's list lags: the runner cannot see it yet


@pytest.mark.parametrize("wait", [True, False])
async def test_cancel_adopts_a_batch_created_but_not_recorded(home: Path, wait: bool) -> None:
    config = {"progression": {"kind": "after_polls", "polls": 1000}}
    async with Emulator(config) as emu:
        async with LosesCreateResponse(url=emu.url) as lossy:
            with pytest.raises(TransportError):
                await bp.run([chat(i) for i in range(4)], backend=lossy, home=home,
                             run_id="run-lost", clock=InstantClock(), progress=False,
                             api_retries=0)  # fmt: skip
        with Store(home) as store:
            assert [s.state for s in store.shards("run-lost")] == ["submitting"]
        assert [b["status"] for b in emu.batches()] == ["validating"]
        async with EmulatorBackend(url=emu.url) as be:
            clock = InstantClock(real_sleep=0.002)
            run = await bp.cancel(
                "run-lost", backend=be, home=home, clock=clock, progress=False, wait=wait
            )
        with run:
            if wait:
                assert run.state == "cancelled"
                assert run.outcomes == {"cancelled": 4}
            else:  # recorded now, for whoever drives the run to its end
                assert [s.job_id for s in run.store.shards("run-lost")] == [emu.batches()[0]["id"]]
        # the paid batch was found by its tags and cancelled, not left running
        (batch,) = emu.batches()
        assert batch["status"] in ("cancelling", "cancelled")


class LaggingList(EmulatorBackend):
    """The first create's answer is lost, and the batch list shows it only after a few
    looks, as a provider's eventually consistent listing would."""

    def __init__(self, lag: int) -> None:
        super().__init__()
        self.lag = lag
        self.lost = False

    async def create_batch(self, spec: ShardSpec, file_id: str) -> Job:
        job = await super().create_batch(spec, file_id)
        if not self.lost:
            self.lost = True
            raise TransportError("connection reset after the request was sent")
        return job

    async def find(self, spec: ShardSpec, checkpoint: Mapping[str, str]) -> Job | None:
        if self.lost and self.lag > 0:
            self.lag -= 1
            return None
        return await super().find(spec, checkpoint)


@pytest.mark.parametrize(("window", "batches"), [(30.0, 1), (0.0, 2)])
async def test_a_lost_create_is_looked_for_over_a_window(
    home: Path, window: float, batches: int
) -> None:
    clock = InstantClock(real_sleep=0.002)
    async with LaggingList(lag=3) as be:
        run = await bp.run([chat(i) for i in range(3)], backend=be, home=home, clock=clock,
                           progress=False, adopt_window_s=window)  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": 3}
        assert be.emulator is not None
        # with the window the lagging list shows the first batch in time: no second one
        assert len(be.emulator.batches()) == batches


async def test_a_finished_run_reopens_offline_and_in_flight_rows_read_pending(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reqs = [chat(i) for i in range(3)]
    async with MemoryBackend(polls=1000) as be:
        kw: dict[str, Any] = {"clock": InstantClock(), "progress": False, "submit_only": True}
        submitted = await bp.run(reqs, backend=be, home=home, run_id="run-off", **kw)
        with submitted:
            assert submitted.outcomes == {"pending": 3}
            assert {r.outcome for r in submitted.results()} == {Outcome.PENDING}
    async with MemoryBackend() as be:
        (await bp.run(reqs, backend=be, home=home, run_id="run-done", clock=InstantClock(),
                      progress=False)).close()  # fmt: skip
    # no key anywhere: reading a finished run needs no backend at all
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with bp.open_run("run-done", home=home) as run:
        assert run.outcomes == {"succeeded": 3}
        assert [r.text for r in run.results()] == ["ok"] * 3
    again = await bp.resume("run-done", backend="openai", home=home)
    with again:
        assert again.state == "done"
    with pytest.raises(RunError, match="no run 'nope'"):
        bp.open_run("nope", home=home)


async def test_an_azure_run_resumes_from_its_recorded_settings(
    azure: AzureBackend, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reqs = [chat(i) for i in range(3)]
    first = await bp.run(reqs, backend=azure, home=home, run_id="run-set", progress=False,
                         submit_only=True)  # fmt: skip
    first.close()
    with Store(home) as store:
        settings = orjson.loads(store.get_run("run-set").backend_settings)
    assert settings["endpoint"] == azure.endpoint
    assert settings["deployments"]["gpt-4o-mini"]["name"] == "mini-batch"
    assert "azk-seam" not in str(settings)  # the key is never recorded
    # a new process, told nothing but the key: endpoint and deployments come back
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azk-seam")
    run = await bp.resume("run-set", home=home, clock=InstantClock(real_sleep=0.002),
                          progress=False)  # fmt: skip
    with run:
        assert run.outcomes == {"succeeded": 3}


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs."""


async def test_a_run_stopped_while_preparing_is_prepared_again_from_its_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in.jsonl"
    bp.write_requests(src, [chat(i) for i in range(5)])
    real = Store.add_rows

    def interrupted(self: Store, run_id: str, rows: Any) -> None:
        real(self, run_id, rows)
        raise Killed  # as a kill in the middle of preparing would

    monkeypatch.setattr(Store, "add_rows", interrupted)
    async with MemoryBackend() as be:
        with pytest.raises(Killed):
            await bp.run(src, backend=be, home=home, run_id="run-prep", progress=False)
        monkeypatch.setattr(Store, "add_rows", real)
        with Store(home) as store:
            assert store.get_run("run-prep").state == "planning"
            assert store.shards("run-prep") == []
        # no requests handed over: the run prepares again from the file it recorded
        run = await bp.resume("run-prep", backend=be, home=home, clock=InstantClock())
        with run:
            assert run.outcomes == {"succeeded": 5}
        assert len(be.jobs) == 1


async def test_a_run_stopped_while_preparing_from_memory_asks_for_its_requests(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reqs = [chat(i) for i in range(5)]

    def interrupted(self: Store, run_id: str, rows: Any) -> None:
        raise Killed

    async with MemoryBackend() as be:
        with monkeypatch.context() as m:
            m.setattr(Store, "add_rows", interrupted)
            with pytest.raises(Killed):
                await bp.run(reqs, backend=be, home=home, run_id="run-mem", progress=False)
        with pytest.raises(RunError, match="Hand it its requests again"):
            await bp.resume("run-mem", backend=be, home=home)
        run = await bp.run(reqs, backend=be, home=home, run_id="run-mem", clock=InstantClock(),
                           progress=False)  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": 5}


class DeletesItsInput(EmulatorBackend):
    """The shard's upload disappears at the provider between upload and create, once
    (a clean-up script, a file expiry): the batch is created and then fails on it."""

    deleted = False

    async def create_batch(self, spec: ShardSpec, file_id: str) -> Job:
        if not self.deleted:
            self.deleted = True
            await self.delete_file(file_id)
        return await super().create_batch(spec, file_id)


async def test_an_input_file_gone_before_the_batch_is_uploaded_again(home: Path) -> None:
    async with DeletesItsInput() as be:
        run = await bp.run([chat(i) for i in range(4)], backend=be, home=home,
                           clock=InstantClock(real_sleep=0.002), progress=False)  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": 4}  # not failed for good
        assert be.emulator is not None
        assert sorted(b["status"] for b in be.emulator.batches()) == ["completed", "failed"]


class LosesItsResults(EmulatorBackend):
    """The output file is deleted at the provider before it is read, once."""

    gone = False

    async def stream_file(self, file_id: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        if not self.gone:
            self.gone = True
            await self.delete_file(file_id)
        async for chunk in super().stream_file(file_id):
            yield chunk


async def test_results_gone_at_the_provider_are_run_again_not_waited_for(home: Path) -> None:
    notes: list[str] = []

    class Notes(NullProgress):
        def note(self, text: str) -> None:
            notes.append(text)

    async with LosesItsResults() as be:
        run = await bp.run([chat(i) for i in range(4)], backend=be, home=home,
                           clock=InstantClock(real_sleep=0.002), progress=Notes())  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": 4}
            assert {r.attempts for r in run.results()} == {2}
        assert any("results of job" in n and "gone" in n for n in notes)


async def test_a_dead_endpoint_fails_fast_and_says_where(home: Path) -> None:
    import socket as _socket

    with _socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = InstantClock()
    async with EmulatorBackend(url=f"http://127.0.0.1:{port}") as be:
        with pytest.raises(TransportError, match=f"cannot connect to http://127.0.0.1:{port}/"):
            await bp.run([chat(1)], backend=be, home=home, clock=clock, progress=False)
    assert len(clock.slept) == 2  # two quick retries, not api_retries with backoff
    assert sum(clock.slept) <= 2.0


@pytest.mark.parametrize(
    ("dialect", "model"), [("anthropic", "claude-haiku-4-5"), ("gemini", "gemini-2.5-flash")]
)
async def test_plan_prices_the_model_a_translating_backend_runs(
    home: Path, dialect: str, model: str
) -> None:
    """bp.plan with a backend that maps models prices what bp.run prices (the provider's
    model), so a max_cost taken from the plan is one the run keeps to."""
    from batchport.backends.anthropic import AnthropicBackend
    from batchport.backends.gemini import GeminiBackend

    reqs = [chat(i) for i in range(4)]
    with EmulatorThread() as emu:
        kind = AnthropicBackend if dialect == "anthropic" else GeminiBackend
        async with kind(api_key="k", base_url=emu.url, models={"gpt-4o-mini": model}) as be:
            planned = bp.plan(reqs, backend=be)
            assert [s.provider_model for s in planned.shards] == [model]
            assert planned.cost.batch_usd != bp.plan(reqs).cost.batch_usd  # not gpt-4o-mini's
            with pytest.raises(RunError, match="exceeds max_cost"):
                await bp.run(reqs, backend=be, home=home, progress=False,
                             max_cost=planned.cost.batch_usd * 0.999)  # fmt: skip
            assert emu.batches() == []
            run = await bp.run(reqs, backend=be, home=home, progress=False,
                               clock=InstantClock(real_sleep=0.002),
                               max_cost=planned.cost.batch_usd * 1.001)  # fmt: skip
            with run:
                assert run.outcomes == {"succeeded": 4}
