"""Validation speed and memory on a 200 MB, 50,000-line chat batch file.

Compares, in the same run and on the same file:

- ``batchport.validate_file`` (every rule, token estimates),
- ``openbatch.validate_batch_file`` 0.0.4 (fewer rules),
- a bare loop that only parses each line with orjson (the floor for a Python validator).

Every measurement runs in a fresh interpreter started with ``subprocess`` (one per
contender run, the three interleaved so drift in machine load hits all alike). The child
reports its wall time around the call only (imports excluded) and its own peak RSS, read
from ``VmHWM`` in ``/proc/self/status``: ``ru_maxrss`` would not do, because on Linux a
child started by ``subprocess`` keeps the parent's peak in it (see ``_common.peak_rss_mb``).
The parent adds the whole-process wall time (interpreter start-up and imports included).
Each child's peak includes the interpreter and the script's own imports (orjson), which the
bare loop's row shows as the floor. The file is generated under benchmarks/_data/
(git-ignored) on first use and reused afterwards; the page cache is warmed before timing.

    .venv/bin/python benchmarks/bench_validate.py [--repeats 3] [--update-results]
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from pathlib import Path

import orjson
from _common import (
    child_bench_main,
    machine_with_cpu_model,
    measure_in_child,
    peak_rss_mb,
    section,
    spread,
)

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
LINES = 50_000
LINE_BYTES = 4_150  # 50,000 x 4,150 B = 207.5 MB = 197.9 MiB, just under the 200 MB limit
MARK = "bench_validate"

WORDS = [
    "battery",
    "screen",
    "delivery",
    "refund",
    "quality",
    "price",
    "support",
    "great",
    "terrible",
    "okay",
    "fast",
    "slow",
    "packaging",
    "manual",
    "warranty",
    "charger",
    "cable",
    "sound",
    "camera",
    "photo",
    "night",
    "mode",
    "update",
    "app",
    "crash",
    "très",
    "bon",
    "produit",
    "schnell",
    "geliefert",
    "素晴らしい",
    "отлично",
    "{json}",
    '{"k":',
    "1}",
    "¡excelente!",
    "👍",
]


def make_file(path: Path) -> Path:
    """Write the benchmark file once (deterministic content); reuse it when present."""
    if path.exists() and path.stat().st_size > LINES * (LINE_BYTES - 200):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(2024)
    pool = [" ".join(rng.choice(WORDS) for _ in range(900)) for _ in range(64)]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        for i in range(LINES):
            text = pool[i % len(pool)]
            body = {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Classify the review. Answer with one word."},
                    {"role": "user", "content": text},
                ],
                "max_tokens": 50,
            }
            line = {
                "custom_id": f"req-{i:06d}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": body,
            }
            raw = orjson.dumps(line)
            pad = LINE_BYTES - len(raw) - 1  # trim/pad the user text to hit the line size
            body["messages"][1]["content"] = text[: max(0, len(text.encode()) + pad)]
            raw = orjson.dumps(line)
            while len(raw) + 1 > LINE_BYTES:
                body["messages"][1]["content"] = body["messages"][1]["content"][:-1]
                raw = orjson.dumps(line)
            out.write(raw + b"\n")
    os.replace(tmp, path)
    return path


def child(kind: str, path: str) -> None:
    """Run one contender and print {"seconds", "peak_rss_mb", "summary"} as JSON."""
    if kind == "batchport":
        from batchport.validate import validate_file

        start = time.perf_counter()
        report = validate_file(path)
        seconds = time.perf_counter() - start
        summary = {"ok": report.ok, "problems": report.problem_count, "requests": report.requests}
    elif kind == "openbatch":
        from openbatch import validate_batch_file

        start = time.perf_counter()
        result = validate_batch_file(path)
        seconds = time.perf_counter() - start
        summary = {
            "ok": result.is_valid,
            "problems": len(result.errors),
            "requests": result.stats.get("total_requests"),
        }
    else:
        start = time.perf_counter()
        count = 0
        with open(path, "rb") as handle:
            for line in handle:
                orjson.loads(line)
                count += 1
        seconds = time.perf_counter() - start
        summary = {"ok": True, "problems": 0, "requests": count}
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "summary": summary}))


def run(repeats: int) -> str:
    path = make_file(DATA / "chat_200mb.jsonl")
    size = path.stat().st_size
    with open(path, "rb") as handle:  # warm the page cache so no contender pays for the disk
        while handle.read(1 << 24):
            pass
    kinds = ("batchport", "openbatch", "orjson")
    runs: dict[str, list[dict[str, object]]] = {k: [] for k in kinds}
    for _ in range(repeats):
        for kind in kinds:  # interleaved, so drift in machine load hits all three alike
            runs[kind].append(measure_in_child(__file__, kind, str(path)))

    def values(kind: str, key: str) -> list[float]:
        return [float(r[key]) for r in runs[kind]]  # type: ignore[arg-type]

    med = {k: statistics.median(values(k, "seconds")) for k in kinds}
    rss = {k: statistics.median(values(k, "peak_rss_mb")) for k in kinds}
    summary = {k: runs[k][0]["summary"] for k in kinds}
    rows = [
        f"| {name} | {spread(values(k, 'seconds'))} | {med[k] / med['orjson']:.2f}x "
        f"| {spread(values(k, 'process_seconds'))} "
        f"| {spread(values(k, 'peak_rss_mb'), '{:.1f}')} | {summary[k]} |"
        for k, name in (
            ("batchport", "batchport `validate_file`"),
            ("openbatch", "openbatch 0.0.4 `validate_batch_file`"),
            ("orjson", "bare `orjson.loads` loop"),
        )
    ]
    ratio = med["openbatch"] / med["batchport"]
    worst = max(values("batchport", "peak_rss_mb"))
    verdicts = [
        f"- no slower than openbatch: {'yes' if med['batchport'] <= med['openbatch'] else 'NO'} "
        f"(openbatch takes {ratio:.2f}x batchport's time)",
        f"- within 2x of bare orjson: {'yes' if med['batchport'] <= 2 * med['orjson'] else 'NO'} "
        f"({med['batchport'] / med['orjson']:.2f}x)",
        f"- peak RSS under 100 MB: {'yes' if worst < 100 else 'NO'} "
        f"(largest of {repeats} runs: {worst:.1f} MB; the bare loop's floor is "
        f"{rss['orjson']:.1f} MB)",
    ]
    return section(
        MARK,
        "Validation: 200 MB, 50,000-line chat file",
        ".venv/bin/python benchmarks/bench_validate.py"
        + (f" --repeats {repeats}" if repeats != 3 else "")
        + " --update-results",
        machine_with_cpu_model(),
        [
            f"File: {LINES:,} lines, {size:,} bytes ({size / 2**20:.1f} MiB), page cache warm; "
            "each line is a system and a user message whose text mixes ASCII with accents, CJK "
            "and emoji (the costlier case for orjson and for the token heuristic alike). "
            f"Each contender run in a fresh interpreter of its own, {repeats} runs interleaved; "
            "figures are median (min-max). Seconds: around the call, imports excluded. Whole "
            "process: from spawning the interpreter to its exit, start-up and imports included. "
            "Peak RSS: the child's own `VmHWM` (its `ru_maxrss` would include the parent's "
            "peak), interpreter and the script's imports included. Measured on a shared 2-core "
            "machine with other work running, so single runs vary.",
            "",
            "| contender | seconds | vs bare orjson | whole process s | peak RSS (MB) | result |",
            "|---|---:|---:|---:|---:|---|",
            *rows,
            "",
            *verdicts,
        ],
    )


def main() -> None:
    child_bench_main(__doc__, MARK, ("KIND", "PATH"), child, run)


if __name__ == "__main__":
    main()
