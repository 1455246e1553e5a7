"""``batchport bench``: warp loop, workloads, report structure, chart and CLI."""

from __future__ import annotations

import asyncio
import json
import selectors
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from batchport import bench
from batchport.cli import main
from batchport.errors import ConfigError, InputError


def test_warp_loop_skips_idle_time_and_tells_listeners(monkeypatch: pytest.MonkeyPatch) -> None:
    jumped: list[float] = []
    blocking: list[float] = []  # timed waits that reached the OS selector, i.e. real waits

    class RecordingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
        def select(self, timeout: float | None = None) -> Any:
            if timeout is not None and timeout > 0:
                blocking.append(timeout)
            return super().select(timeout)

    monkeypatch.setattr(selectors, "DefaultSelector", RecordingSelector)

    async def main_() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, bench.WarpLoop)
        loop.on_jump(jumped.append)
        t0 = loop.time()
        await asyncio.gather(asyncio.sleep(3600), asyncio.sleep(1800))
        return loop.time() - t0, loop.jumped_s

    with asyncio.Runner(loop_factory=bench.new_warp_loop) as runner:
        elapsed, jumped_s = runner.run(main_())
    assert blocking == []  # every idle wait was jumped over, none slept for real
    assert elapsed >= 3600  # the loop's clock reached the later timer
    assert len(jumped) >= 2 and sum(jumped) == pytest.approx(jumped_s)  # one jump per timer


def test_warp_loop_does_not_jump_while_a_worker_thread_runs() -> None:
    async def main_() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, bench.WarpLoop)
        sleeper = asyncio.ensure_future(asyncio.sleep(100))
        await loop.run_in_executor(None, time.sleep, 0.05)
        mid = loop.jumps
        await sleeper
        return mid, loop.jumps

    with asyncio.Runner(loop_factory=bench.new_warp_loop) as runner:
        during, after = runner.run(main_())
    assert during == 0  # the 100 s timer was not jumped to while the worker ran
    assert after >= 1  # ... only once the loop was idle again


def test_generated_workload_has_the_asked_sizes() -> None:
    w = bench.generate(3, prompt_tokens=50, output_tokens=100, model="gpt-4o")
    assert [r.custom_id for r in w.requests] == ["bench-0", "bench-1", "bench-2"]
    assert all(r.body["max_tokens"] >= 100 and r.model == "gpt-4o" for r in w.requests)
    content = w.requests[0].body["messages"][0]["content"]
    assert 180 <= len(content) <= 230
    with pytest.raises(InputError, match="positive"):
        bench.generate(0)


def test_file_workload_samples_and_names_a_bad_line(tmp_path: Path) -> None:
    good = bench.generate(5).requests
    path = tmp_path / "w.jsonl"
    path.write_bytes(b"".join(r.to_json() + b"\n" for r in good))
    assert bench.load(path, sample=2).n == 2
    path.write_bytes(good[0].to_json() + b"\n{oops\n")
    with pytest.raises(InputError) as info:
        bench.load(path)
    assert info.value.line == 2 and str(path) in str(info.value)


@pytest.fixture(scope="module")
def report() -> bench.BenchReport:
    workload = bench.generate(24, prompt_tokens=20, output_tokens=300)
    settings = bench.BenchSettings(concurrency=8, error_rate=0.35, batch_queue_s=30)
    return bench.run_bench_sync(workload, settings)


def test_report_json_has_every_mode_and_field(report: bench.BenchReport) -> None:
    data = report.to_json()
    fields = {"emulated_wall_s", "real_wall_s", "rows_per_s", "first_result_s", "cost_per_1k",
              "failed", "retried", "row_p99_s", "polls"}  # fmt: skip
    assert set(data["modes"]) == {"batch", "sequential", "concurrent"}
    for mode in data["modes"].values():
        assert fields <= set(mode)
        assert mode["rows"] == 24 and mode["failed"] == 0
    # tier 1 on both sides: the emulator's limits and the client's
    assert data["assumptions"]["realtime"]["rpm"] == 500
    assert data["assumptions"]["realtime"]["tpm"] == 200_000
    assert data["assumptions"]["realtime_client"] == {"rpm": 500, "tpm": 200_000, "concurrency": 8}
    assert data["tier"]["tier"] == 1 and "gpt-4o-mini" in data["tier"]["source"]
    assert data["assumptions"]["batch_progression"]["scope"] == "account"


def test_report_figures_have_the_expected_shape(report: bench.BenchReport) -> None:
    m = report.modes
    # 24 answers of ~300 tokens: 3.4 s mean latency each, one at a time, plus retries
    assert 24 * 3.4 * 0.7 < m["sequential"].emulated_wall_s < 24 * 3.4 * 1.5 + 60
    assert m["concurrent"].emulated_wall_s < m["sequential"].emulated_wall_s / 3
    # batch: 35 s queued and validating, 24 rows at 10/s, 30 s finalizing, plus poll lag
    assert 35 + 2.4 + 30 <= m["batch"].emulated_wall_s < 35 + 2.4 + 30 + 61
    assert m["batch"].first_result_s == pytest.approx(m["batch"].emulated_wall_s, abs=1)
    for mode in m.values():
        assert mode.real_wall_s < mode.emulated_wall_s
    batch_cost, rt_cost = m["batch"].cost_per_1k, m["sequential"].cost_per_1k
    assert batch_cost is not None and rt_cost is not None
    assert batch_cost == pytest.approx(rt_cost / 2, rel=0.1)


def test_injected_errors_are_retried_in_both_realtime_modes(report: bench.BenchReport) -> None:
    for name in ("sequential", "concurrent"):
        mode = report.modes[name]
        # 35% of calls fail once or more: none of 24 failing has odds of 3 in 100,000
        assert mode.rate_limited + mode.server_errors > 0
        assert mode.retried > 0 and mode.failed == 0
        assert mode.row_p50_s is not None and mode.row_p99_s is not None
        assert mode.row_p99_s >= mode.row_p50_s > 0


def test_the_runner_polls_at_its_own_pace_not_the_emulators_hint(
    report: bench.BenchReport,
) -> None:
    batch = report.modes["batch"]
    # 5 s growing 1.5x to 60 s over a ~70-130 s batch: about ten reads, not thousands
    assert batch.polls is not None and 3 <= batch.polls <= 20
    assert batch.shards == 1
    md = report.to_markdown()
    assert f"{batch.polls} status reads" in md and "every 5 s" in md


def test_markdown_leads_with_batch_against_concurrent(report: bench.BenchReport) -> None:
    md = report.to_markdown()
    head = md.index("## Batch or realtime?")
    assert md.index("concurrently in realtime") > head
    assert md.index("concurrently in realtime") < md.index("Sequential, for reference")
    assert "batch costs 50% less" in md
    assert "tier 1 (500 RPM, 200,000 TPM)" in md
    assert "- tier 5:" in md and "beats batch on time" in md  # the crossover, tier by tier
    assert "24 h" in md and "only the window" in md  # what the providers promise
    assert "lognormal" in md and "35.0% of calls" in md and "virtual clock" in md
    assert "10 rows/s for the whole account" in md


def test_cost_difference_shows_with_a_single_mode() -> None:
    workload = bench.generate(4, prompt_tokens=20, output_tokens=50)
    settings = bench.BenchSettings(modes=("batch",), batch_queue_s=0)
    report = bench.run_bench_sync(workload, settings)
    assert any("batch costs 50% less" in line for line in report.summary_lines())


def test_splitting_into_more_batches_does_not_make_batch_faster() -> None:
    from batchport_emulator.config import EmulatorConfig

    workload = bench.generate(40, prompt_tokens=20, output_tokens=20)
    settings = bench.BenchSettings(modes=("batch",), batch_rows_per_s=1.0, batch_queue_s=0)
    config = bench.emulator_config(settings, workload)
    assert EmulatorConfig.model_validate(config).progression.kind == "throughput"

    async def run(shards: int) -> float:
        from batchport.bench.modes import EmulatorTarget, bench_batch
        from batchport.runner.options import RunOptions

        options = RunOptions(poll=settings.poll_policy(), max_rows_per_shard=40 // shards)
        result = await bench_batch(workload.requests, EmulatorTarget(config), options)
        assert result.shards == shards
        return result.emulated_wall_s

    times = []
    for shards in (1, 4):
        with asyncio.Runner(loop_factory=bench.new_warp_loop) as runner:
            times.append(runner.run(run(shards)))
    # 40 rows at 1 row/s for the account either way: no faster in four batches
    assert times[0] >= 40 and times[1] >= 40
    assert times[1] == pytest.approx(times[0], abs=40)


def test_tier_presets_and_overrides_set_both_sides() -> None:
    workload = bench.generate(2)
    tier5 = bench.BenchSettings(tier=5)
    assert tier5.limits() == (30_000, 150_000_000)
    cfg = bench.emulator_config(tier5, workload)
    assert (cfg["realtime"]["rpm"], cfg["realtime"]["tpm"]) == (30_000, 150_000_000)
    custom = bench.BenchSettings(tier=5, tpm=1_000)
    assert custom.limits() == (30_000, 1_000)
    assert bench.BenchSettings(concurrency="auto", tier=1).workers(workload) < 40
    assert bench.BenchSettings(concurrency="auto", tier=5).workers(workload) == 1000
    with pytest.raises(ConfigError, match="tier"):
        bench.BenchSettings(tier=6)


def test_crossover_model() -> None:
    from batchport.bench.model import crossover, realtime_rate

    rate = realtime_rate(32, 20.0, 500, 200_000, 2_400)
    assert rate.bound == "TPM" and rate.rows_per_s == pytest.approx(200_000 / 60 / 2_400)
    assert rate.workers_to_saturate == 28
    # 1.39 rows/s against 10 rows/s after 6 min: concurrent wins below ~560 rows
    cross = crossover(rate.rows_per_s, 20.0, 10.0, 365.0)
    assert 500 < cross.rows < 600
    assert crossover(50.0, 20.0, 10.0, 365.0).rows == float("inf")


def test_sweep_runs_every_size_and_tier_and_draws_both_panels(tmp_path: Path) -> None:
    settings = bench.BenchSettings(concurrency=4, batch_queue_s=0, error_rate=0.0)
    sweep = bench.run_sweep(
        [3, 9],
        [1, 5],
        settings,
        lambda n: bench.generate(n, prompt_tokens=20, output_tokens=20),
    )
    assert {(p.mode, p.rows, p.tier) for p in sweep.points} == {
        ("batch", 3, None), ("batch", 9, None), ("sequential", 3, None),
        ("sequential", 9, None), ("concurrent", 3, 1), ("concurrent", 9, 1),
        ("concurrent", 3, 5), ("concurrent", 9, 5),
    }  # fmt: skip
    for p in sweep.points:
        assert p.emulated_wall_s > 0 and p.cost_usd is not None
    md = sweep.to_markdown()
    assert "| 9 |" in md and "tier 5:" in md and "Batch costs 50% less" in md
    path = bench.write_sweep_chart(sweep, tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bench.parse_rows("rows=1e3,1e4") == [1000, 10_000]
    with pytest.raises(ConfigError, match="sweep"):
        bench.parse_rows("rows=lots")


def test_chart_is_a_png(report: bench.BenchReport, tmp_path: Path) -> None:
    path = bench.write_chart(report.modes, tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_is_a_clear_error(
    report: bench.BenchReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(bench.ChartUnavailable, match=r"batchport\[bench\]"):
        bench.write_chart(report.modes, tmp_path / "chart.png")


def test_cli_prints_the_comparison_and_writes_three_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["bench", "--n", "6", "--output-tokens", "50", "--concurrency", "3", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "sequential" in printed and "concurrent" in printed and "batch" in printed
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", "chart.png"}
    data = json.loads((out / "report.json").read_text())
    assert data["workload"]["n"] == 6


def test_cli_sweep_writes_the_sweep_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["bench", "--sweep", "rows=2,4", "--tiers", "1,3", "--output-tokens", "20",
            "--modes", "batch,concurrent", "--batch-queue-s", "0", "--error-rate", "0",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "tier 3:" in printed
    assert {p.name for p in out.iterdir()} == {"sweep.json", "sweep.md", "chart.png"}
    data = json.loads((out / "sweep.json").read_text())
    assert data["rows"] == [2, 4] and data["tiers"] == [1, 3]


def test_cli_refuses_an_unknown_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--n", "2", "--modes", "batch,warp", "--out", str(tmp_path)]) == 3
    assert "modes must be among" in capsys.readouterr().err


def test_the_anthropic_dialect_runs_every_mode_on_message_batches_and_messages() -> None:
    workload = bench.generate(12, prompt_tokens=20, output_tokens=100, model="claude-haiku-4-5")
    settings = bench.BenchSettings(concurrency=4, dialect="anthropic", profile="instant")
    report = bench.run_bench_sync(workload, settings)
    m = report.modes
    assert set(m) == {"batch", "sequential", "concurrent"}
    for mode in m.values():
        assert mode.rows == 12 and mode.failed == 0
        assert mode.outcomes == {"succeeded": 12}
    batch_cost, rt_cost = m["batch"].cost_per_1k, m["sequential"].cost_per_1k
    assert batch_cost is not None and rt_cost is not None  # Claude models are priced
    assert batch_cost == pytest.approx(rt_cost / 2, rel=0.1)


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ConfigError, match="dialect"):
        bench.BenchSettings(dialect="gemini-ish")


def test_the_gemini_dialect_runs_every_mode_on_batch_generate_content() -> None:
    workload = bench.generate(12, prompt_tokens=20, output_tokens=100, model="gemini-2.5-flash")
    settings = bench.BenchSettings(concurrency=4, dialect="gemini", profile="instant")
    report = bench.run_bench_sync(workload, settings)
    m = report.modes
    for mode in m.values():
        assert mode.rows == 12 and mode.failed == 0
        assert mode.outcomes == {"succeeded": 12}
    batch_cost, rt_cost = m["batch"].cost_per_1k, m["sequential"].cost_per_1k
    assert batch_cost is not None and rt_cost is not None  # Gemini models are priced
    assert batch_cost == pytest.approx(rt_cost / 2, rel=0.1)
