"""Request-building speed: batchport's BatchBuilder against openbatch 0.0.4's BatchCollector.

Two workloads, 50,000 requests each, same inputs for both libraries:

- ``responses.parse(custom_id, model, input, text_format=Sentiment)``
- ``chat.completions.create(custom_id, model, messages)``

Both sides end with the batch file on disk: openbatch writes as it goes (one append per
call), batchport builds in memory and then writes once, so the batchport figure is build +
``builder.write``. Every measurement runs in a fresh subprocess (imports excluded from the
timing, schema caches cold), interleaved across libraries; the median is reported.

    .venv/bin/python benchmarks/bench_build.py [--repeats 3] [--update-results]
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Literal

from _common import child_bench_main, machine_with_cpu_model, measure_in_child, section
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


def child(library: str, workload: str) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"build-{library}-{workload}.jsonl"
    runner = run_batchport if library == "batchport" else run_openbatch
    total, build, lines = runner(workload, path)
    print(
        json.dumps(
            {"seconds": total, "build_seconds": build, "lines": lines, "bytes": path.stat().st_size}
        )
    )


def run(repeats: int) -> str:
    workloads = {"responses.parse": 3.0, "chat.completions.create": 1.5}  # target speed-ups
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(repeats):
        for workload in workloads:
            for library in ("batchport", "openbatch"):
                results.setdefault((library, workload), []).append(
                    measure_in_child(__file__, library, workload)
                )
    rows, verdicts = [], []
    for workload, target in workloads.items():
        ours = statistics.median(r["seconds"] for r in results[("batchport", workload)])
        ours_build = statistics.median(r["build_seconds"] for r in results[("batchport", workload)])
        theirs = statistics.median(r["seconds"] for r in results[("openbatch", workload)])
        lines = {lib: results[(lib, workload)][0]["lines"] for lib in ("batchport", "openbatch")}
        speedup = theirs / ours
        rows.append(
            f"| `{workload}` | {ours:.2f} ({ours_build:.2f} build + {ours - ours_build:.2f} write) "
            f"| {theirs:.2f} | {speedup:.1f}x | {target:.1f}x | {lines['batchport']:,} / {lines['openbatch']:,} |"
        )
        verdicts.append(
            f"- `{workload}`: {speedup:.1f}x faster, target {target:.1f}x: {'met' if speedup >= target else 'MISSED'}"
        )
    return section(
        MARK,
        f"Building {N:,} requests: BatchBuilder vs openbatch 0.0.4 BatchCollector",
        ".venv/bin/python benchmarks/bench_build.py"
        + (f" --repeats {repeats}" if repeats != 3 else "")
        + " --update-results",
        machine_with_cpu_model(),
        [
            f"Median of {repeats} runs, each in a fresh subprocess (imports excluded, schema caches cold). "
            "Both sides end with the JSONL file on disk.",
            "",
            "| workload | batchport s | openbatch s | speed-up | target | lines (bp / ob) |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            *verdicts,
        ],
    )


def main() -> None:
    child_bench_main(__doc__, MARK, ("LIBRARY", "WORKLOAD"), child, run)


if __name__ == "__main__":
    main()
