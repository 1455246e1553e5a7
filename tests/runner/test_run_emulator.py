"""The runner against the embedded emulator over real HTTP, on an instant clock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pydantic
import pytest

import batchport as bp
from batchport.errors import InputError, RunError
from batchport.requests import Request
from batchport.runner import InstantClock, Outcome
from batchport.runner.progress import NullProgress, ShardView

from .conftest import assert_one_outcome_each, chat


async def test_clean_run_settles_every_row_once(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    reqs = [chat(i) for i in range(30)]
    run = await bp.run(reqs, backend=backend_factory(), home=home, clock=clock, progress=False)
    assert_one_outcome_each(run, reqs)
    assert run.outcomes == {"succeeded": 30}
    assert run.ok
    assert run.state == "done"
    assert run.usage.input_tokens > 0 and run.usage.output_tokens > 0
    assert run.cost.priced and 0 < run.cost.batch_usd < run.cost.realtime_usd
    first = next(run.results())
    assert first.text and first.status_code == 200 and first.attempts == 1


async def test_retryable_row_failures_are_retried_until_they_succeed(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    cfg = {"faults": {"row_failure_rate": 0.4, "row_failure_statuses": [429, 500]}}
    reqs = [chat(i) for i in range(40)]
    run = await bp.run(
        reqs, backend=backend_factory(cfg), home=home, clock=clock, progress=False, max_attempts=8
    )
    assert_one_outcome_each(run, reqs)
    assert run.outcomes == {"succeeded": 40}
    retried = [r for r in run.results() if r.retried]
    assert retried, "with a 40% failure rate some rows must have needed a second attempt"
    assert all(r.status_code == 200 for r in retried)


async def test_bad_requests_are_not_retried(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    cfg = {"faults": {"row_failure_rate": 0.5, "row_failure_statuses": [400]}}
    reqs = [chat(i) for i in range(30)]
    run = await bp.run(
        reqs, backend=backend_factory(cfg), home=home, clock=clock, progress=False, max_attempts=5
    )
    assert_one_outcome_each(run, reqs)
    failed = [r for r in run.results() if r.outcome is Outcome.FAILED]
    assert failed
    assert all(r.attempts == 1 and r.status_code == 400 for r in failed)
    assert all(r.error is not None and r.error.message for r in failed)
    assert run.outcomes["succeeded"] == 30 - len(failed)


async def test_retries_stop_at_max_attempts(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    # the marker makes the row fail with 500 on every attempt
    reqs = [chat(0), chat(1, "always broken [[emulator:status=500]]"), chat(2)]
    run = await bp.run(
        reqs, backend=backend_factory(), home=home, clock=clock, progress=False, max_attempts=3
    )
    assert_one_outcome_each(run, reqs)
    bad = run.store.get_row(run.id, "r00001")
    assert (bad.outcome, bad.attempt, bad.status_code) == ("failed", 3, 500)


class Sentiment(pydantic.BaseModel):
    label: str
    score: float


async def test_structured_results_parse_into_the_model(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    b = bp.BatchBuilder()
    for i in range(5):
        b.responses.parse(
            custom_id=f"s{i}", model="gpt-4o-mini", input=f"review {i}", text_format=Sentiment
        )
    b.responses.parse(
        custom_id="s-refuse",
        model="gpt-4o-mini",
        input="x [[emulator:refuse]]",
        text_format=Sentiment,
    )
    b.responses.parse(
        custom_id="s-trunc",
        model="gpt-4o-mini",
        input="x [[emulator:truncate]]",
        text_format=Sentiment,
    )
    b.responses.parse(
        custom_id="s-filter",
        model="gpt-4o-mini",
        input="x [[emulator:content_filter]]",
        text_format=Sentiment,
    )
    run = await bp.run(b, backend=backend_factory(), home=home, clock=clock, progress=False)
    by_id = {r.custom_id: r for r in run.results()}
    assert len(by_id) == 8
    for i in range(5):
        r = by_id[f"s{i}"]
        assert r.outcome is Outcome.SUCCEEDED
        assert isinstance(r.parsed, Sentiment)
    assert by_id["s-refuse"].outcome is Outcome.REFUSED and by_id["s-refuse"].parsed is None
    assert by_id["s-trunc"].outcome is Outcome.TRUNCATED and by_id["s-trunc"].parsed is None
    assert by_id["s-filter"].outcome is Outcome.CONTENT_FILTERED


async def test_chat_parse_results_parse_too(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    b = bp.BatchBuilder()
    for i in range(3):
        b.chat.completions.parse(
            custom_id=f"c{i}",
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"review {i}"}],
            response_format=Sentiment,
        )
    run = await bp.run(b, backend=backend_factory(), home=home, clock=clock, progress=False)
    assert all(isinstance(r.parsed, Sentiment) for r in run.results())


async def test_expired_shard_keeps_finished_rows(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    cfg = {
        "clock": {"scale": 2000.0},
        "batches": {"completion_window_s": 60},
        "faults": {"expire_rate": 1.0, "expire_progress": 0.5},
    }
    reqs = [chat(i) for i in range(20)]
    run = await bp.run(
        reqs, backend=backend_factory(cfg), home=home, clock=clock, progress=False, max_attempts=1
    )
    assert_one_outcome_each(run, reqs)
    outcomes = run.outcomes
    assert outcomes.get("succeeded", 0) > 0 and outcomes.get("expired", 0) > 0
    expired = [r for r in run.results() if r.outcome is Outcome.EXPIRED]
    assert all(r.error is not None and r.error.code == "batch_expired" for r in expired)


class _HealAfterExpiry(NullProgress):
    """Turns expiry off once the first shard has expired, so its retry completes."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.seen: list[str] = []

    def shard(self, view: ShardView) -> None:
        self.seen.append(view.status)
        if view.status == "expired":
            self.backend.emulator.configure({"faults": {"expire_rate": 0.0}})


async def test_expired_rows_are_retried_in_a_child_batch(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    cfg = {
        # expiry comes by the emulator's clock, 0.3 s real: the rows before it run at the
        # first poll, which comes well before even on a loaded machine
        "clock": {"scale": 200.0},
        "batches": {"completion_window_s": 60},
        "faults": {"expire_rate": 1.0, "expire_progress": 0.5},
    }
    be = backend_factory(cfg)
    reqs = [chat(i) for i in range(20)]
    sink = _HealAfterExpiry(be)
    run = await bp.run(reqs, backend=be, home=home, clock=clock, progress=sink, max_attempts=3)
    assert "expired" in sink.seen
    assert_one_outcome_each(run, reqs)
    assert run.outcomes == {"succeeded": 20}
    attempts = sorted({r.attempts for r in run.results()})
    assert attempts == [1, 2], "finished rows kept from the expired batch, the rest retried once"
    shard_ids = [s.shard_id for s in run.store.shards(run.id)]
    assert shard_ids == ["s0000", "s0000-2"]


async def test_cancelled_run_keeps_what_finished(backend_factory: Any, home: Path) -> None:
    cfg = {"progression": {"kind": "throughput", "requests_per_s": 20.0, "validating_s": 0.0}}
    be = backend_factory(cfg)
    await be.start()
    reqs = [chat(i) for i in range(200)]
    clock = InstantClock(real_sleep=0.02)
    task = asyncio.create_task(
        bp.run(reqs, backend=be, home=home, clock=clock, progress=False, run_id="run-cancel-me")
    )
    for _ in range(500):  # wait until some rows have completed at the emulator
        await asyncio.sleep(0.02)
        rows = [b for b in be.emulator.batches() if b["request_counts"]["completed"] >= 5]
        if rows:
            break
    await bp.cancel("run-cancel-me", backend=be, home=home, wait=False)
    run = await task
    assert_one_outcome_each(run, reqs)
    outcomes = run.outcomes
    assert outcomes.get("succeeded", 0) >= 5
    assert outcomes.get("cancelled", 0) > 0
    assert set(outcomes) <= {"succeeded", "cancelled"}
    assert run.state == "cancelled"


async def test_max_cost_refuses_before_anything_is_sent(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    be = backend_factory()
    reqs = [chat(i, model="gpt-4o") for i in range(50)]
    with pytest.raises(RunError, match="exceeds max_cost"):
        await bp.run(reqs, backend=be, home=home, clock=clock, progress=False, max_cost=0.0001)
    assert be.emulator is None or be.emulator.batches() == []


async def test_resume_with_changed_input_is_refused(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    reqs = [chat(i) for i in range(5)]
    be = backend_factory()
    await bp.run(reqs, backend=be, home=home, clock=clock, progress=False, run_id="run-fixed")
    with pytest.raises(RunError, match="input differs"):
        await bp.run(
            reqs[:4], backend=be, home=home, clock=clock, progress=False, run_id="run-fixed"
        )
    again = await bp.run(
        reqs, backend=be, home=home, clock=clock, progress=False, run_id="run-fixed"
    )
    assert again.outcomes == {"succeeded": 5}
    assert len(be.emulator.batches()) == 1, "resuming a finished run submits nothing"


async def test_results_can_be_written_as_jsonl_and_csv(
    backend_factory: Any, home: Path, clock: InstantClock, tmp_path: Path
) -> None:
    reqs = [chat(i) for i in range(4)]
    run = await bp.run(reqs, backend=backend_factory(), home=home, clock=clock, progress=False)
    assert run.write_results(tmp_path / "out.jsonl") == 4
    assert run.write_results(tmp_path / "out.csv", "csv") == 4
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 4 and '"outcome":"succeeded"' in lines[0]
    assert '"backend":"emulator"' in lines[0]  # every row says where its answer came from
    header = (tmp_path / "out.csv").read_text().splitlines()[0]
    assert header.startswith("backend,index,custom_id,outcome")
    assert "on backend emulator (synthetic answers)" in run.summary()


async def test_cost_prices_each_model_from_its_own_usage(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    reqs = [chat(i, model="gpt-4o") for i in range(3)]
    reqs += [chat(i + 3, model="gpt-4o-mini") for i in range(4)]
    run = await bp.run(reqs, backend=backend_factory(), home=home, clock=clock, progress=False)
    table = bp.PriceTable.default()
    expected = bp.Cost()
    for r in run.results():
        model = "gpt-4o" if int(r.custom_id[1:]) < 3 else "gpt-4o-mini"
        expected = expected + table.cost(
            model, input_tokens=r.usage.input_tokens, output_tokens=r.usage.output_tokens
        )
    assert run.cost.batch_usd == pytest.approx(expected.batch_usd)
    assert run.cost.realtime_usd == pytest.approx(expected.realtime_usd)
    assert run.cost.saved_usd == pytest.approx(expected.realtime_usd / 2)


async def test_request_lines_as_dicts_run_like_requests(
    backend_factory: Any, home: Path, clock: InstantClock
) -> None:
    """The dicts a script written for the provider's SDK already has are a run's input
    as they are, and are the same input as the requests made from them."""
    reqs = [chat(i) for i in range(12)]
    lines = [r.to_dict() for r in reqs]
    be = backend_factory()
    run = await bp.run(lines, backend=be, home=home, clock=clock, progress=False, run_id="run-d")
    assert_one_outcome_each(run, reqs)
    assert run.outcomes == {"succeeded": 12}
    assert bp.plan(lines, backend=be).fingerprint == bp.plan(reqs, backend=be).fingerprint
    again = await bp.run(reqs, backend=be, home=home, clock=clock, progress=False, run_id="run-d")
    assert again.outcomes == {"succeeded": 12}
    assert len(be.emulator.batches()) == 1, "the same input: resuming submits nothing"
    # a generator of dicts, mixed with requests, is read once as it goes
    mixed = (line if i % 2 else Request.from_dict(line) for i, line in enumerate(lines))
    other = await bp.run(mixed, backend=be, home=home, clock=clock, progress=False)
    assert other.outcomes == {"succeeded": 12}


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("not a request", "expected a batchport.Request or a request line as a dict, got str"),
        ({"custom_id": "x", "method": "POST", "url": "/v1/chat/completions"}, "'body'"),
        ({"custom_id": "", "method": "POST", "url": "/v1/x", "body": {}}, "non-empty string"),
    ],
)
async def test_an_input_that_is_no_request_is_refused_by_its_position(
    backend_factory: Any, home: Path, clock: InstantClock, item: object, words: str
) -> None:
    lines: list[Any] = [chat(0), chat(1).to_dict(), item, chat(3)]
    be = backend_factory()
    with pytest.raises(InputError, match="<requests>:3: ") as err:
        await bp.run(lines, backend=be, home=home, clock=clock, progress=False)
    assert words in str(err.value) and err.value.line == 3
    with pytest.raises(InputError, match="<requests>:3: "):
        bp.plan(lines, backend=be)
    assert be.emulator is None or be.emulator.batches() == [], "nothing is sent"
