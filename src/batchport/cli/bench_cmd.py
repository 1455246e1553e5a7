"""``batchport bench``: one workload as a batch, sequentially and concurrently, compared.

Prints the comparison and writes ``report.json``, ``report.md`` and ``chart.png`` into
``--out``. Exit status: 0 done (even if rows failed: failures are figures here), 3 an
error stopped the bench.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from batchport.cli import EXIT_OK

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="compare batch, sequential and concurrent throughput and cost",
        description="Run one workload three ways (batch, sequential, concurrent) against "
        "the emulator's realistic profile (default) or a provider, and report wall time, "
        "rows/s, time to first result, cost per 1,000 rows, failures and retries.",
    )
    src = p.add_argument_group("workload")
    src.add_argument("--n", type=int, default=2000, help="requests to generate (default 2000)")
    src.add_argument("--prompt-tokens", type=int, default=200, metavar="N", help="default 200")
    src.add_argument(
        "--output-tokens", type=int, default=2000, metavar="N", help="answer length (default 2000)"
    )
    src.add_argument("--model", default="gpt-4o-mini")
    src.add_argument("--file", default=None, metavar="FILE", help="bench this JSONL batch file")
    src.add_argument(
        "--sample", type=int, default=None, metavar="N", help="only the first N requests of --file"
    )
    p.add_argument(
        "--backend",
        default="emulator",
        help="emulator (embedded, default) or a provider backend such as openai",
    )
    p.add_argument("--profile", choices=("realistic", "instant"), default="realistic")
    p.add_argument(
        "--dialect",
        choices=("openai", "anthropic", "gemini"),
        default="openai",
        help="the emulator's API to bench: openai (Batch API, chat completions) or "
        "anthropic (Message Batches, /v1/messages; use with --model claude-...) or gemini "
        "(batchGenerateContent, generateContent; use with --model gemini-...)",
    )
    p.add_argument("--concurrency", type=int, default=32, metavar="N", help="default 32")
    p.add_argument("--rpm", type=int, default=None, help="client RPM limit (default: profile's)")
    p.add_argument("--tpm", type=int, default=None, help="client TPM limit (default: profile's)")
    p.add_argument(
        "--modes", default="batch,sequential,concurrent", help="comma-separated subset, in order"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench-out", metavar="DIR", help="default ./bench-out")
    p.add_argument("--no-chart", action="store_true", help="skip chart.png")
    p.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from batchport import bench

    if args.file:
        workload = bench.load(args.file, sample=args.sample, output_tokens=args.output_tokens)
    else:
        workload = bench.generate(
            args.n,
            prompt_tokens=args.prompt_tokens,
            output_tokens=args.output_tokens,
            model=args.model,
            seed=args.seed,
        )
    settings = bench.BenchSettings(
        backend=args.backend,
        profile=args.profile,
        concurrency=args.concurrency,
        rpm=args.rpm,
        tpm=args.tpm,
        modes=tuple(m.strip() for m in args.modes.split(",") if m.strip()),
        seed=args.seed,
        dialect=args.dialect,
    )
    print(
        f"bench: {workload.n:,} requests via {settings.backend}; modes {', '.join(settings.modes)}"
    )

    def progress(m: bench.ModeResult) -> None:
        print(f"  {m.mode}: done in {m.real_wall_s:.1f} s real", file=sys.stderr)

    report = bench.run_bench_sync(workload, settings, on_mode=progress)
    _print_table(report.table())
    for line in report.summary_lines():
        print(line)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    chart: str | None = None
    if not args.no_chart:
        try:
            bench.write_chart(
                report.modes, f"{args.out}/chart.png", title=f"{workload.n:,} requests"
            )
            chart = "chart.png"
        except bench.ChartUnavailable as exc:
            print(f"batchport: warning: {exc}", file=sys.stderr)
    paths = report.write(args.out, chart_name=chart)
    written = [str(p) for p in paths] + ([f"{args.out}/chart.png"] if chart else [])
    print("wrote " + ", ".join(written))
    return EXIT_OK


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if j == 0:
            print("  ".join("-" * w for w in widths))
