"""Request-building speed: batchport's BatchBuilder against openbatch 0.0.4's BatchCollector.

Two workloads, 50,000 requests each, same inputs for both libraries:

- ``responses.parse(custom_id, model, input, text_format=Sentiment)``
- ``chat.completions.create(custom_id, model, messages)``

Both sides end with the batch file on disk: openbatch writes as it goes (one append per
call), batchport builds in memory and then writes once, so the batchport figure is build +
``builder.write``. Every measurement runs in a fresh interpreter (one per library run,
interleaved across libraries so drift in machine load hits both alike; schema caches
cold). Three figures per run:

- in-process seconds, around the building and writing only (imports excluded);
- whole-process seconds and CPU, from spawning the interpreter to its exit (start-up and
  imports included; CPU is user + system from ``RUSAGE_CHILDREN``); a third child that
  imports what the script itself needs (pydantic, for ``Sentiment``) and exits gives the
  floor every library pays;
- peak RSS, the child's own ``VmHWM`` (``ru_maxrss`` would carry the parent's peak).

The median (min-max) of ``--repeats`` runs is reported.

    .venv/bin/python benchmarks/bench_build.py [--repeats 3] [--update-results]
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Literal

from _common import (
    child_bench_main,
    machine_with_cpu_model,
    measure_in_child,
    peak_rss_mb,
    section,
    spread,
)
from pydantic import BaseModel, Field

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
N = 50_000
MODEL = "gpt-4o-mini"
MARK = "bench_build"
REVIEWS = (
    "Battery lasts two full days. Best phone I have owned.",
    "Stopped charging after a week; support never answered.",
    "Très bon rapport qualité-prix, mais la coque raye facilement.",
    'The app showed {"error": "quota"} every time I synced.',
)


class Sentiment(BaseModel):
    label: Literal["positive", "negative", "mixed", "neutral"]
    confidence: float = Field(description="0 to 1")
    evidence: list[str]


def _text(i: int) -> str:
    return f"Review {i}: {REVIEWS[i % len(REVIEWS)]}"


def run_batchport(workload: str, path: Path) -> tuple[float, float, int]:
    from batchport import BatchBuilder

    start = time.perf_counter()
    builder = BatchBuilder()
    if workload == "responses.parse":
        parse = builder.responses.parse
        for i in range(N):
            parse(custom_id=f"r-{i}", model=MODEL, input=_text(i), text_format=Sentiment)
    else:
        create = builder.chat.completions.create
        for i in range(N):
            create(
                custom_id=f"r-{i}", model=MODEL, messages=[{"role": "user", "content": _text(i)}]
            )
    built = time.perf_counter()
    stats = builder.write(path)
    return time.perf_counter() - start, built - start, stats.requests


def run_openbatch(workload: str, path: Path) -> tuple[float, float, int]:
    from openbatch import BatchCollector

    path.unlink(missing_ok=True)  # openbatch appends to an existing file
    start = time.perf_counter()
    collector = BatchCollector(path)
    if workload == "responses.parse":
        for i in range(N):
            collector.responses.parse(
                custom_id=f"r-{i}", model=MODEL, input=_text(i), text_format=Sentiment
            )
    else:
        for i in range(N):
            collector.chat.completions.create(
                custom_id=f"r-{i}", model=MODEL, messages=[{"role": "user", "content": _text(i)}]
            )
    seconds = time.perf_counter() - start
    with open(path, "rb") as handle:
        lines = sum(1 for _ in handle)
    return seconds, seconds, lines


LIBRARIES = ("batchport", "openbatch", "floor")
LABELS = {
    "batchport": "batchport `BatchBuilder`",
    "openbatch": "openbatch 0.0.4 `BatchCollector`",
    "floor": "floor: interpreter + pydantic, no library",
}


def child(library: str, workload: str) -> None:
    """Run one library on one workload; print its timings, peak RSS and output size."""
    if library == "floor":
        print(
            json.dumps(
                {
                    "seconds": 0.0,
                    "build_seconds": 0.0,
                    "lines": 0,
                    "bytes": 0,
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
        )
        return
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"build-{library}-{workload}.jsonl"
    runner = run_batchport if library == "batchport" else run_openbatch
    total, build, lines = runner(workload, path)
    print(
        json.dumps(
            {
                "seconds": total,
                "build_seconds": build,
                "lines": lines,
                "bytes": path.stat().st_size,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def run(repeats: int) -> str:
    workloads = {"responses.parse": 3.0, "chat.completions.create": 1.5}  # target speed-ups
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(repeats):
        for workload in workloads:
            for library in LIBRARIES:
                results.setdefault((library, workload), []).append(
                    measure_in_child(__file__, library, workload)
                )

    def values(library: str, workload: str, key: str) -> list[float]:
        return [float(r[key]) for r in results[(library, workload)]]

    def med(library: str, workload: str, key: str) -> float:
        return statistics.median(values(library, workload, key))

    rows, verdicts = [], []
    for workload, target in workloads.items():
        for library in LIBRARIES:
            rs = results[(library, workload)]
            if library == "batchport":
                build, total = (
                    med(library, workload, "build_seconds"),
                    med(library, workload, "seconds"),
                )
                inproc = f"{spread(values(library, workload, 'seconds'))} [{build:.2f} build + {total - build:.2f} write]"
            elif library == "openbatch":
                inproc = spread(values(library, workload, "seconds"))
            else:
                inproc = "-"
            rows.append(
                f"| `{workload}` | {LABELS[library]} | {inproc} "
                f"| {spread(values(library, workload, 'process_seconds'))} "
                f"| {spread(values(library, workload, 'process_cpu_seconds'))} "
                f"| {spread(values(library, workload, 'peak_rss_mb'), '{:.0f}')} "
                f"| {int(rs[0]['lines']):,} |"
            )
        speedup = med("openbatch", workload, "seconds") / med("batchport", workload, "seconds")
        whole = med("openbatch", workload, "process_seconds") / med(
            "batchport", workload, "process_seconds"
        )
        mem = med("batchport", workload, "peak_rss_mb") - med("floor", workload, "peak_rss_mb")
        verdicts.append(
            f"- `{workload}`: in-process {speedup:.1f}x faster, target {target:.1f}x: "
            f"{'met' if speedup >= target else 'MISSED'}; whole process {whole:.1f}x faster; "
            f"batchport's peak RSS is {mem:.0f} MB above the floor "
            f"(its imports plus the {N:,} requests it holds until `write`)"
        )
    return section(
        MARK,
        f"Building {N:,} requests: BatchBuilder vs openbatch 0.0.4 BatchCollector",
        ".venv/bin/python benchmarks/bench_build.py"
        + (f" --repeats {repeats}" if repeats != 3 else "")
        + " --update-results",
        machine_with_cpu_model(),
        [
            f"Each library run in a fresh interpreter of its own, {repeats} runs interleaved; "
            "figures are median (min-max). Both sides end with the JSONL file on disk. "
            "In-process: around building and writing only (imports excluded, schema caches "
            "cold). Whole process: spawn to exit, start-up and imports included; CPU is the "
            "child's user + system time. Peak RSS: the child's own `VmHWM`. The floor row is "
            "the same script importing only what it needs itself (pydantic) and exiting. "
            "Measured on a shared 2-core machine with other work running, so single runs vary.",
            "",
            "| workload | contender | in-process s | whole process s | whole process CPU s "
            "| peak RSS (MB) | lines |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            *verdicts,
        ],
    )


def main() -> None:
    child_bench_main(__doc__, MARK, ("LIBRARY", "WORKLOAD"), child, run)


if __name__ == "__main__":
    main()
