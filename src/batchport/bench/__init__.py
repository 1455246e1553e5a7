"""Benchmarking batch against sequential and concurrent realtime throughput.

``batchport bench`` is :func:`run_bench_sync` plus :meth:`BenchReport.write` and
:func:`write_chart`; ``--sweep`` is :func:`run_sweep` plus :func:`write_sweep_chart`.
The charts need matplotlib (the ``bench`` extra), imported lazily.
"""

from __future__ import annotations

from batchport.bench.chart import ChartUnavailable, write_chart, write_sweep_chart
from batchport.bench.core import MODES, BenchSettings, emulator_config, run_bench, run_bench_sync
from batchport.bench.facts import TIERS
from batchport.bench.modes import ModeResult
from batchport.bench.report import BenchReport
from batchport.bench.sweep import SweepPoint, SweepReport, parse_rows, run_sweep
from batchport.bench.warp import LoopClock, WarpLoop, new_warp_loop
from batchport.bench.workload import Workload, generate, load

__all__ = [
    "MODES",
    "TIERS",
    "BenchReport",
    "BenchSettings",
    "ChartUnavailable",
    "LoopClock",
    "ModeResult",
    "SweepPoint",
    "SweepReport",
    "WarpLoop",
    "Workload",
    "emulator_config",
    "generate",
    "load",
    "new_warp_loop",
    "parse_rows",
    "run_bench",
    "run_bench_sync",
    "run_sweep",
    "write_chart",
    "write_sweep_chart",
]
