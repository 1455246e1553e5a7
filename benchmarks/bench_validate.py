"""Validation speed and memory on a 200 MB, 50,000-line chat batch file.

Compares, in the same run and on the same file:

- ``batchport.validate_file`` (every rule, token estimates),
- ``openbatch.validate_batch_file`` 0.0.4 (fewer rules),
- a bare loop that only parses each line with orjson (the floor for a Python validator).

Every measurement runs in a fresh subprocess, which reports its wall time (around the call
only, imports excluded) and its peak RSS. The file is generated under benchmarks/_data/
(git-ignored) on first use and reused afterwards.

    .venv/bin/python benchmarks/bench_validate.py [--repeats 3] [--update-results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
RESULTS = HERE / "RESULTS.md"
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
    """Run one contender and print {"seconds", "maxrss_mb", "summary"} as JSON."""
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
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "maxrss_mb": maxrss_mb, "summary": summary}))


def measure(kind: str, path: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


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
            runs[kind].append(measure(kind, path))
    med = {k: statistics.median(float(r["seconds"]) for r in runs[k]) for k in kinds}  # type: ignore[arg-type]
    rss = {k: max(float(r["maxrss_mb"]) for r in runs[k]) for k in kinds}  # type: ignore[arg-type]
    summary = {k: runs[k][0]["summary"] for k in kinds}
    rows = [
        f"| {name} | {med[k]:.2f} | {med[k] / med['orjson']:.2f}x | {rss[k]:.0f} | {summary[k]} |"
        for k, name in (
            ("batchport", "batchport `validate_file`"),
            ("openbatch", "openbatch 0.0.4 `validate_batch_file`"),
            ("orjson", "bare `orjson.loads` loop"),
        )
    ]
    ratio = med["openbatch"] / med["batchport"]
    verdicts = [
        f"- no slower than openbatch: {'yes' if med['batchport'] <= med['openbatch'] else 'NO'} "
        f"(openbatch takes {ratio:.2f}x batchport's time)",
        f"- within 2x of bare orjson: {'yes' if med['batchport'] <= 2 * med['orjson'] else 'NO'} "
        f"({med['batchport'] / med['orjson']:.2f}x)",
        f"- peak RSS under 100 MB: {'yes' if rss['batchport'] < 100 else 'NO'} ({rss['batchport']:.0f} MB)",
    ]
    return "\n".join(
        [
            f"<!-- {MARK}:start -->",
            "## Validation: 200 MB, 50,000-line chat file",
            "",
            "Command: `.venv/bin/python benchmarks/bench_validate.py"
            + (f" --repeats {repeats}" if repeats != 3 else "")
            + " --update-results`",
            f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}.",
            f"File: {LINES:,} lines, {size:,} bytes ({size / 2**20:.1f} MiB), page cache warm; "
            "each line is a system and a user message whose text mixes ASCII with accents, CJK "
            "and emoji (the costlier case for orjson and for the token heuristic alike). "
            f"Median of {repeats} runs, each in a fresh subprocess; time excludes imports; "
            "peak RSS is the subprocess's `ru_maxrss` (interpreter and imports included).",
            "",
            "| contender | seconds | vs bare orjson | peak RSS (MB) | result |",
            "|---|---:|---:|---:|---|",
            *rows,
            "",
            *verdicts,
            f"<!-- {MARK}:end -->",
        ]
    )


def update_results(section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    start, end = f"<!-- {MARK}:start -->", f"<!-- {MARK}:end -->"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--update-results", action="store_true", help="write the section into RESULTS.md"
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    section = run(args.repeats)
    print(section)
    if args.update_results:
        update_results(section)


if __name__ == "__main__":
    main()
