"""``batchport bench``: one workload as a batch, sequentially and concurrently, compared.

Prints the comparison and writes ``report.json``, ``report.md`` and ``chart.png`` into
``--out``; with ``--sweep`` it runs several sizes at several tiers and writes
``sweep.json``, ``sweep.md`` and ``chart.png`` (time and cost against rows). With
``--deadline 2h`` it runs batch only, the batch with that deadline (slow shards fall back
to realtime), and realtime only, side by side. Exit status:
0 done (even if rows failed: failures are figures here), 3 an error stopped the bench.
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
    p.add_argument(
        "--concurrency",
        default="32",
        metavar="N",
        help="workers in the concurrent mode (default 32), or auto: enough to reach the "
        "tier's limits",
    )
    limits = p.add_argument_group("realtime limits (both the emulator and the client)")
    limits.add_argument(
        "--tier",
        type=int,
        choices=(1, 2, 3, 4, 5),
        default=1,
        help="OpenAI usage tier whose gpt-4o-mini RPM/TPM apply (default 1)",
    )
    limits.add_argument("--rpm", type=int, default=None, help="override the tier's RPM")
    limits.add_argument("--tpm", type=int, default=None, help="override the tier's TPM")
    model = p.add_argument_group("the emulated trade-off (profile realistic)")
    model.add_argument(
        "--error-rate",
        type=float,
        default=None,
        metavar="R",
        help="share of realtime calls answered 429/500/503 and retried (default 0.01)",
    )
    model.add_argument(
        "--latency-sigma",
        type=float,
        default=None,
        metavar="S",
        help="lognormal spread of realtime latency (default 0.4)",
    )
    model.add_argument(
        "--batch-rows-per-s",
        type=float,
        default=None,
        metavar="R",
        help="the account's batch capacity, shared by all its batches (default 10)",
    )
    model.add_argument(
        "--batch-queue-s",
        type=float,
        default=None,
        metavar="S",
        help="seconds a batch waits before its rows start (default 300)",
    )
    model.add_argument(
        "--poll-interval", type=float, default=5.0, metavar="S", help="first poll wait (5)"
    )
    model.add_argument(
        "--poll-max-interval", type=float, default=60.0, metavar="S", help="longest wait (60)"
    )
    sweep = p.add_argument_group("sweep")
    sweep.add_argument(
        "--sweep",
        default=None,
        metavar="rows=N,N",
        help="run every size (e.g. rows=1e3,1e4,1e5) and chart time and cost against rows",
    )
    sweep.add_argument(
        "--tiers", default=None, metavar="T,T", help="tiers for --sweep (default: --tier)"
    )
    p.add_argument(
        "--modes",
        default=None,
        help="comma-separated subset, in order (default batch,sequential,concurrent; with "
        "--deadline: batch,deadline,concurrent)",
    )
    p.add_argument(
        "--deadline",
        default=None,
        metavar="WHEN",
        help="the deadline scenario: a duration such as 2h or 90m after the start; runs "
        "batch only, batch with the deadline (realtime fallback), and realtime only; make "
        "the batch slow with --batch-rows-per-s to see the fallback",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench-out", metavar="DIR", help="default ./bench-out")
    p.add_argument("--no-chart", action="store_true", help="skip chart.png")
    p.set_defaults(handler=_bench)


def _settings(args: argparse.Namespace) -> Any:
    from batchport import bench
    from batchport.errors import ConfigError

    conc: int | str = args.concurrency
    if conc != "auto":
        try:
            conc = int(conc)
        except ValueError as exc:
            raise ConfigError("--concurrency takes a number or auto") from exc
    given = {
        "error_rate": args.error_rate,
        "latency_sigma": args.latency_sigma,
        "batch_rows_per_s": args.batch_rows_per_s,
        "batch_queue_s": args.batch_queue_s,
    }
    deadline_s: float | None = None
    if args.deadline is not None:
        from batchport.runner.deadline import parse_deadline

        deadline_s = parse_deadline(args.deadline, now=0.0).at  # a duration from the start
    default_modes = "batch,deadline,concurrent" if deadline_s else "batch,sequential,concurrent"
    return bench.BenchSettings(
        deadline_s=deadline_s,
        backend=args.backend,
        profile=args.profile,
        concurrency=conc,
        tier=args.tier,
        rpm=args.rpm,
        tpm=args.tpm,
        modes=tuple(m.strip() for m in (args.modes or default_modes).split(",") if m.strip()),
        seed=args.seed,
        dialect=args.dialect,
        poll_interval_s=args.poll_interval,
        poll_max_interval_s=args.poll_max_interval,
        **{k: v for k, v in given.items() if v is not None},
    )


def _workload(args: argparse.Namespace, n: int | None = None) -> Any:
    from batchport import bench

    if args.file:
        sample = n if n is not None else args.sample
        return bench.load(args.file, sample=sample, output_tokens=args.output_tokens)
    return bench.generate(
        n if n is not None else args.n,
        prompt_tokens=args.prompt_tokens,
        output_tokens=args.output_tokens,
        model=args.model,
        seed=args.seed,
    )


def _bench(args: argparse.Namespace) -> int:
    from batchport import bench

    settings = _settings(args)
    if args.sweep:
        return _sweep(args, settings)
    workload = _workload(args)
    print(
        f"bench: {workload.n:,} requests via {settings.backend}; modes {', '.join(settings.modes)}"
    )

    def progress(m: bench.ModeResult) -> None:
        print(f"  {m.mode}: done in {m.real_wall_s:.1f} s real", file=sys.stderr)

    report = bench.run_bench_sync(workload, settings, on_mode=progress)
    for line in report.summary_lines():
        print(line.replace("**", ""))
    print()
    _print_table(report.table())
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


def _sweep(args: argparse.Namespace, settings: Any) -> int:
    from batchport import bench
    from batchport.errors import ConfigError

    rows = bench.parse_rows(args.sweep)
    try:
        tiers = [int(t) for t in (args.tiers or str(args.tier)).split(",") if t.strip()]
    except ValueError as exc:
        raise ConfigError(f"--tiers takes tier numbers such as 1,3,5; got {args.tiers!r}") from exc
    bad = [t for t in tiers if t not in bench.TIERS]
    if bad or not tiers:
        raise ConfigError(f"--tiers takes tiers 1 to 5; got {args.tiers!r}")
    print(f"bench sweep: rows {', '.join(f'{n:,}' for n in rows)}; tiers {tiers}")

    def progress(p: bench.SweepPoint) -> None:
        where = f" tier {p.tier}" if p.tier is not None else ""
        print(
            f"  {p.rows:,} rows {p.mode}{where}: {p.emulated_wall_s / 3600:.2f} h emulated, "
            f"{p.real_wall_s:.1f} s real",
            file=sys.stderr,
        )

    sweep = bench.run_sweep(rows, tiers, settings, lambda n: _workload(args, n), on_point=progress)
    _print_table(sweep.table())
    for tier in sweep.tiers:
        print(f"tier {tier}: {sweep.measured_crossover(tier)}")
    chart: str | None = None
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if not args.no_chart:
        try:
            bench.write_sweep_chart(sweep, f"{args.out}/chart.png")
            chart = "chart.png"
        except bench.ChartUnavailable as exc:
            print(f"batchport: warning: {exc}", file=sys.stderr)
    paths = sweep.write(args.out, chart_name=chart)
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
