"""Reconciliation cost per row as a shard grows: 5,000, 20,000 and 50,000 rows.

Each size runs ``batchport.run`` once per repeat against a fresh emulator process
(instant profile, its results shuffled as the real services return them). Measured in
this process: the client CPU time (``process_time``) spent in
``Collector.collect`` (reading the shard's results, checking them, writing the result
blob and settling every row in the ledger, one commit), divided by the shard's rows;
and the whole run's client CPU per row beside it (fixed costs such as start-up and
polls weigh more on small runs). Target: the reconcile cost per row stays flat (within
25 % between 5,000 and 50,000 rows).

    .venv/bin/python benchmarks/bench_reconcile.py [--repeats 3] [--update-results]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import chat_line, emulator_process, machine, publish, section, spread

import batchport as bp
import batchport.runner.collect as collect_module
from batchport.backends.emulator import EmulatorBackend
from batchport.runner.policy import PollPolicy

MARK = "bench_reconcile"
SIZES = (5_000, 20_000, 50_000)
FLAT = 1.25

_spent: dict[str, float] = {}
_collect = collect_module.Collector.collect


async def _timed_collect(self: Any, *args: Any, **kwargs: Any) -> Any:
    t0 = time.process_time()
    try:
        return await _collect(self, *args, **kwargs)
    finally:
        _spent["collect"] = _spent.get("collect", 0.0) + time.process_time() - t0


collect_module.Collector.collect = _timed_collect  # type: ignore[method-assign]


def one_run(rows: int) -> tuple[float, float]:
    reqs = [
        bp.Request.from_dict(chat_line(f"req-{i}", f"Classify review number {i}.", 64))
        for i in range(rows)
    ]
    with emulator_process() as (url, _proc), tempfile.TemporaryDirectory() as tmp:

        async def go() -> float:
            backend = EmulatorBackend(url=url)
            try:
                t0 = time.process_time()
                run = await bp.run(
                    reqs,
                    backend=backend,
                    home=Path(tmp) / "home",
                    progress=False,
                    poll=PollPolicy(interval=0.1, max_interval=0.1),
                )
                spent = time.process_time() - t0
                assert run.outcomes == {"succeeded": rows}, run.outcomes
                run.store.close()
                return spent
            finally:
                await backend.aclose()

        _spent.clear()
        total = asyncio.run(go())
    return _spent["collect"] / rows * 1e6, total / rows * 1e6


def reconcile_section(results: dict[int, list[tuple[float, float]]]) -> str:
    med = {n: statistics.median(c for c, _ in runs) for n, runs in results.items()}
    ratio = med[SIZES[-1]] / med[SIZES[0]]
    lines = [
        "Each size: `batchport.run` against a fresh `python -m batchport_emulator --port 0` "
        "(instant profile, shuffled results); client CPU (`process_time`) in "
        "`Collector.collect` (read, check, blob, settle, one commit) and in the whole run, "
        f"per row. Median (min-max) of {len(next(iter(results.values())))} runs. "
        "Measured on a shared 2-core machine.",
        "",
        "| rows in the shard | reconcile µs/row | whole run µs/row |",
        "|---:|---:|---:|",
    ]
    for n, runs in results.items():
        rec = spread([c for c, _ in runs], "{:.1f}")
        tot = spread([t for _, t in runs], "{:.1f}")
        lines.append(f"| {n:,} | {rec} | {tot} |")
    verdict = "met" if ratio <= FLAT else "NOT met"
    lines += [
        "",
        f"- reconcile µs/row at {SIZES[-1]:,} rows / at {SIZES[0]:,} rows: {ratio:.2f}x "
        f"(flat within {FLAT}x: {verdict})",
    ]
    return section(
        MARK,
        "Reconciliation cost per row against shard size",
        ".venv/bin/python benchmarks/bench_reconcile.py --update-results",
        machine(),
        lines,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--update-results", action="store_true")
    args = parser.parse_args()
    results: dict[int, list[tuple[float, float]]] = {n: [] for n in SIZES}
    for i in range(args.repeats):
        for n in SIZES if i % 2 == 0 else tuple(reversed(SIZES)):
            rec, tot = one_run(n)
            results[n].append((rec, tot))
            print(f"{n:,} rows: reconcile {rec:.1f} µs/row, whole run {tot:.1f} µs/row")
    publish(MARK, reconcile_section(results), args.update_results)


if __name__ == "__main__":
    main()
