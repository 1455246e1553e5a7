"""Benchmarking batch against sequential and concurrent realtime throughput.

``batchport bench`` is :func:`run_bench_sync` plus :meth:`BenchReport.write` and
:func:`write_chart`. The chart needs matplotlib (the ``bench`` extra), imported lazily.
"""

from __future__ import annotations

from batchport.bench.chart import ChartUnavailable, write_chart
from batchport.bench.core import MODES, BenchSettings, emulator_config, run_bench, run_bench_sync
from batchport.bench.modes import ModeResult
from batchport.bench.report import BenchReport
from batchport.bench.warp import LoopClock, WarpLoop, new_warp_loop
from batchport.bench.workload import Workload, generate, load

__all__ = [
    "MODES",
    "BenchReport",
    "BenchSettings",
    "ChartUnavailable",
    "LoopClock",
    "ModeResult",
    "WarpLoop",
    "Workload",
    "emulator_config",
    "generate",
    "load",
    "new_warp_loop",
    "run_bench",
    "run_bench_sync",
    "write_chart",
]
