"""Batch or realtime: ``batchport bench`` at 2,000 rows, and a sweep over rows and tiers.

Runs the CLI twice against the embedded emulator (realistic profile, on a loop that
jumps over idle virtual time) and writes their reports into RESULTS.md:

- ``batchport bench --n 2000 --tier 1``: batch against concurrent realtime at tier 1,
  sequential for reference, cost, polling, and every assumption with its source;
- ``batchport bench --sweep rows=1e3,1e4 --tiers 1,3,5 --concurrency auto``: time and
  cost against rows for each mode.

Everything the reports say about time is the emulator's model (stated in the
reports); the real seconds each command took are given beside them.

    .venv/bin/python benchmarks/bench_tradeoff.py [--sweep-rows 1e3,1e4] [--update-results]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, publish, section

MARK = "batchport_bench"
BENCH = ["--n", "2000", "--tier", "1", "--no-chart"]


def _bench(args: list[str], out: Path) -> tuple[str, float]:
    cmd = [sys.executable, "-m", "batchport", "bench", *args, "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return " ".join(["batchport", "bench", *args]), time.perf_counter() - t0


def _body(markdown: str) -> list[str]:
    """A report's markdown without its title, its headings one level down."""
    lines = markdown.splitlines()[1:]
    return [("#" + line) if line.startswith("## ") else line for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-rows", default="1e3,1e4")
    parser.add_argument("--update-results", action="store_true")
    args = parser.parse_args()
    sweep = ["--sweep", f"rows={args.sweep_rows}", "--tiers", "1,3,5", "--concurrency", "auto",
             "--no-chart"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        one_cmd, one_s = _bench(BENCH, Path(tmp) / "one")
        print(f"{one_cmd}: {one_s:.1f} s real")
        sweep_cmd, sweep_s = _bench(sweep, Path(tmp) / "sweep")
        print(f"{sweep_cmd}: {sweep_s:.1f} s real")
        report = (Path(tmp) / "one" / "report.md").read_text()
        swept = (Path(tmp) / "sweep" / "sweep.md").read_text()
    text = section(
        MARK,
        "Batch or realtime: `batchport bench` at 2,000 rows, and a sweep over rows and tiers",
        ".venv/bin/python benchmarks/bench_tradeoff.py --update-results",
        machine(),
        [
            f"`{one_cmd}` took {one_s:.1f} s real; `{sweep_cmd}` took {sweep_s:.1f} s real. "
            "Times below are the emulator's model on a loop that jumps over idle virtual "
            "time, as each report says; measured on a shared 2-core machine.",
            "",
            *_body(report),
            "",
            *_body(swept),
        ],
    )
    publish(MARK, text, args.update_results)


if __name__ == "__main__":
    main()
