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
    return bench.run_bench_sync(workload, bench.BenchSettings(concurrency=8))


def test_report_json_has_every_mode_and_field(report: bench.BenchReport) -> None:
    data = report.to_json()
    fields = {"emulated_wall_s", "real_wall_s", "rows_per_s", "first_result_s", "cost_per_1k",
              "failed", "retried"}  # fmt: skip
    assert set(data["modes"]) == {"batch", "sequential", "concurrent"}
    for mode in data["modes"].values():
        assert fields <= set(mode)
        assert mode["rows"] == 24 and mode["failed"] == 0
    assert data["assumptions"]["realtime"]["rpm"] == 500


def test_report_figures_have_the_expected_shape(report: bench.BenchReport) -> None:
    m = report.modes
    # 24 answers of ~300 tokens: ~3.4 s modelled latency each, one at a time
    assert 24 * 3.4 * 0.8 < m["sequential"].emulated_wall_s < 24 * 3.4 * 1.2 + 5
    assert m["concurrent"].emulated_wall_s < m["sequential"].emulated_wall_s / 4
    # batch: 35 s in the queue and validating, 24 rows at 5/s, 30 s finalizing, plus polling
    assert 35 + 4.8 + 30 <= m["batch"].emulated_wall_s < 35 + 4.8 + 30 + 61
    assert m["batch"].first_result_s == pytest.approx(m["batch"].emulated_wall_s, abs=1)
    for mode in m.values():
        assert mode.real_wall_s < mode.emulated_wall_s
    batch_cost, rt_cost = m["batch"].cost_per_1k, m["sequential"].cost_per_1k
    assert batch_cost is not None and rt_cost is not None
    assert batch_cost == pytest.approx(rt_cost / 2, rel=0.1)


def test_markdown_states_the_assumptions_next_to_the_numbers(report: bench.BenchReport) -> None:
    md = report.to_markdown()
    assert "| sequential |" in md and "| batch |" in md
    assert "0.4 s + 0.01 s per output token" in md and "5.0 rows/s" in md
    assert "virtual clock" in md


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
