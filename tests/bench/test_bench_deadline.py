"""``batchport bench --deadline``: batch only, batch with a deadline, realtime only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchport import bench
from batchport.cli import main
from batchport.errors import ConfigError


@pytest.fixture(scope="module")
def report() -> bench.BenchReport:
    # 0.05 rows/s: 240 rows take 80 min plus the queue as a batch; the deadline is 1 h
    workload = bench.generate(240, prompt_tokens=50, output_tokens=200)
    settings = bench.BenchSettings(
        modes=("batch", "deadline", "concurrent"),
        concurrency=8,
        batch_rows_per_s=0.05,
        error_rate=0.0,
        deadline_s=3600.0,
    )
    return bench.run_bench_sync(workload, settings)


def test_the_deadline_mode_ends_in_time_with_a_mix_of_routes(report: bench.BenchReport) -> None:
    m = report.modes
    assert list(m) == ["batch", "deadline", "concurrent"]
    batch, dl, rt = m["batch"], m["deadline"], m["concurrent"]
    assert batch.emulated_wall_s > 3600  # batch alone misses it
    assert dl.deadline_met and dl.emulated_wall_s <= 3600
    assert dl.outcomes == {"succeeded": 240}
    assert dl.routes is not None and dl.routes["batch"] > 0 and dl.routes["realtime"] > 0
    assert sum(dl.routes.values()) == 240
    assert batch.cost_usd is not None and dl.cost_usd is not None and rt.cost_usd is not None
    assert batch.cost_usd < dl.cost_usd < rt.cost_usd


def test_the_report_shows_the_three_side_by_side(report: bench.BenchReport) -> None:
    md = report.to_markdown()
    assert "## Deadline" in md and "met." in md
    assert "Batch only:" in md and "Realtime only (concurrent):" in md
    assert "more than waiting for the batch" in md
    data = report.to_json()
    assert data["modes"]["deadline"]["deadline_met"] is True
    assert data["modes"]["deadline"]["routes"]["realtime"] > 0
    assert data["deadline"] and data["deadline"][0].startswith("- **Deadline 60.0 min: met")


def test_the_deadline_mode_needs_a_deadline() -> None:
    with pytest.raises(ConfigError, match="needs a deadline"):
        bench.BenchSettings(modes=("batch", "deadline"))


def test_cli_deadline_scenario_writes_report_and_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [
        "bench",
        "--deadline",
        "1h",
        "--n",
        "60",
        "--output-tokens",
        "50",
        "--batch-rows-per-s",
        "0.01",
        "--concurrency",
        "4",
        "--error-rate",
        "0",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "deadline" in printed
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", "chart.png"}
    data = json.loads((out / "report.json").read_text())
    assert list(data["modes"]) == ["batch", "deadline", "concurrent"]
    assert data["modes"]["deadline"]["deadline_met"] is True


def test_cli_refuses_a_deadline_that_is_not_a_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--deadline", "soonish", "--out", str(tmp_path)]) == 3
    assert "not a time" in capsys.readouterr().err
