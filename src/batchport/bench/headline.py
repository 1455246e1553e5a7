"""The report's prose: the batch-or-realtime headline, the crossover, the poll policy
that ran, and every assumption with its source."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchport.bench.facts import BATCH_PROMISES, DEFAULTS, TIER_SOURCE, TIERS
from batchport.bench.model import crossover
from batchport.bench.modes import ModeResult
from batchport.bench.workload import Workload

if TYPE_CHECKING:
    from batchport.bench.core import BenchSettings

__all__ = [
    "assumption_lines",
    "cost_line",
    "crossover_lines",
    "format_duration",
    "headline_lines",
    "markdown_table",
    "poll_lines",
    "write_report",
]


def markdown_table(rows: list[list[str]]) -> list[str]:
    """A table (header row first) as markdown lines."""
    return [
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
        *("| " + " | ".join(r) + " |" for r in rows[1:]),
    ]


def write_report(
    out_dir: str | os.PathLike[str], stem: str, data: Any, markdown: str
) -> list[Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir`` (made if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / f"{stem}.json", out / f"{stem}.md"
    js.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    md.write_text(markdown, encoding="utf-8")
    return [js, md]


def format_duration(seconds: float | None) -> str:
    """``"42 s"``, ``"8.1 min"``, ``"11.3 h"``, ``"3.2 days"``; ``"-"`` for None."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _tier_text(settings: BenchSettings) -> str:
    rpm, tpm = settings.limits()
    limits = f"{rpm or 'no'} RPM, {tpm or 'no'} TPM".replace("no RPM, no TPM", "no limits")
    if rpm and tpm:
        limits = f"{rpm:,} RPM, {tpm:,} TPM"
    if not settings.modelled and settings.backend == "emulator":
        return limits
    custom = settings.rpm is not None or settings.tpm is not None
    return f"tier {settings.tier} ({limits}{', overridden' if custom else ''})"


def cost_line(modes: dict[str, ModeResult]) -> str | None:
    """The batch and realtime cost of the workload, from whichever modes ran (each mode
    knows its tokens at both prices)."""
    batch = modes.get("batch")
    rt = modes.get("concurrent") or modes.get("sequential")
    batch_usd = batch.cost_usd if batch else (rt.other_cost_usd if rt else None)
    rt_usd = rt.cost_usd if rt else (batch.other_cost_usd if batch else None)
    if batch_usd is None or rt_usd is None or rt_usd <= 0:
        return None
    return (
        f"- **Cost: ${batch_usd:,.4f} as a batch, ${rt_usd:,.4f} in realtime**: batch costs "
        f"{1 - batch_usd / rt_usd:.0%} less (saves ${rt_usd - batch_usd:,.4f}), whichever "
        "is faster."
    )


def headline_lines(
    settings: BenchSettings, workload: Workload, modes: dict[str, ModeResult]
) -> list[str]:
    """Batch against concurrent realtime at the chosen tier first, then sequential."""
    out: list[str] = []
    batch, conc, seq = modes.get("batch"), modes.get("concurrent"), modes.get("sequential")
    workers = settings.workers(workload)
    if batch and conc:
        faster = "batch" if batch.emulated_wall_s <= conc.emulated_wall_s else "concurrent realtime"
        ratio = max(batch.emulated_wall_s, conc.emulated_wall_s) / max(
            1e-9, min(batch.emulated_wall_s, conc.emulated_wall_s)
        )
        out.append(
            f"- **At {_tier_text(settings)} with {workers} workers, {workload.n:,} requests "
            f"took {format_duration(batch.emulated_wall_s)} as a batch and "
            f"{format_duration(conc.emulated_wall_s)} concurrently in realtime**: "
            f"{faster} was {ratio:.1f}x faster."
        )
    line = cost_line(modes)
    if line:
        out.append(line)
    if conc and settings.modelled:
        rate = settings.realtime_rate(workload)
        out.append(
            f"- Concurrent realtime was bound by {rate.bound}: at most {rate.rows_per_s:.2f} "
            f"rows/s; using all of the tier's limits would take about "
            f"{rate.workers_to_saturate:,} workers (mean latency "
            f"{format_duration(settings.mean_latency_s(workload.output_tokens))})."
        )
    if seq:
        out.append(
            f"- Sequential, for reference (one request in flight): "
            f"{format_duration(seq.emulated_wall_s)}."
        )
    return out


def crossover_lines(settings: BenchSettings, workload: Workload) -> list[str]:
    """Up to how many rows concurrent realtime beats batch on time, tier by tier."""
    if not settings.modelled:
        return []
    latency = settings.mean_latency_s(workload.output_tokens)
    overhead = settings.batch_overhead_s()
    out = [
        f"Estimated from the model (batch: {format_duration(overhead)} fixed plus "
        f"{settings.batch_rows_per_s:g} rows/s; realtime: the least of workers / latency, "
        f"RPM and TPM; errors left out), concurrent realtime with {settings.concurrency} "
        "workers beats batch on time:",
        "",
    ]
    for tier in TIERS:
        rate = settings.realtime_rate(workload, tier)
        cross = crossover(rate.rows_per_s, latency, settings.batch_rows_per_s, overhead)
        mark = " (this run)" if tier == settings.tier else ""
        out.append(
            f"- tier {tier}{mark}: {cross.describe()} ({rate.rows_per_s:.2f} rows/s, "
            f"bound by {rate.bound})"
        )
    window = settings.batch_rows_per_s * 86_400
    out += [
        "",
        f"Past about {window:,.0f} rows the batch capacity cannot finish inside the 24 h "
        "window: rows left then expire and are resubmitted.",
    ]
    return out


def poll_lines(settings: BenchSettings, batch: ModeResult | None) -> list[str]:
    """The poll policy that ran, the reads it made and the real time the mode took."""
    if batch is None:
        return []
    return [
        f"- The batch runner polled every {settings.poll_interval_s:g} s, growing 1.5x to "
        f"{settings.poll_max_interval_s:g} s while nothing changed (the runner's defaults "
        f"against a real provider): {batch.polls} status reads over {batch.shards} "
        f"batch(es); the batch mode took {batch.real_wall_s:.1f} s of real time. Its time "
        "includes the lag between a batch finishing and the next poll."
    ]


def assumption_lines(settings: BenchSettings, workload: Workload) -> list[str]:
    """Every modelled value with its source, or marked as an assumption."""
    if not settings.modelled:
        return [
            "- Profile `instant`: nothing is modelled (no latency, no rate limits beyond any "
            "given, batches run as fast as the machine allows). Use it to check that every "
            "mode works, not to compare them."
        ]
    tier = TIERS[settings.tier]
    d = DEFAULTS
    default_rate = settings.error_rate == d["error_rate"].value
    why = "the default; " + d["error_rate"].basis if default_rate else "set with --error-rate"
    lines = [
        f"- Realtime limits ({_tier_text(settings)}) are enforced by the emulator and kept "
        f"by the client alike. Tier values: {TIER_SOURCE}. The tier's batch queue limit "
        f"({tier.batch_queue_tokens:,} enqueued tokens) is not modelled.",
        f"- Realtime latency: lognormal with mean {d['latency_base_s'].value:g} s + "
        f"{d['latency_per_output_token_s'].value:g} s per output token and sigma "
        f"{settings.latency_sigma:g} (assumptions: {d['latency_base_s'].basis}; "
        f"{d['latency_per_output_token_s'].basis}; {d['latency_sigma'].basis}).",
        f"- Injected realtime errors: {settings.error_rate:.1%} of calls answer 429 (retry "
        f"after 1 s) or 500/503 (after the base latency), then are retried "
        f"({why}).",
        f"- Batch: {settings.batch_rows_per_s:g} rows/s for the whole account, shared first "
        f"come, first served by all running batches, so more shards do not finish sooner; "
        f"each batch first waits {settings.batch_queue_s:g} s queued and "
        f"{d['batch_validating_s'].value:g} s validating, and ends with "
        f"{d['batch_finalizing_s'].value:g} s finalizing. Assumptions: "
        f"{d['batch_rows_per_s'].basis}; queue: {d['batch_queue_s'].basis}.",
        "- What the providers promise is only the window: "
        + "; ".join(BATCH_PROMISES.values())
        + ".",
        "- Costs use the packaged price table: realtime rows at the standard price, batch "
        "rows at the batch price (50% of it at every provider).",
    ]
    if workload.model != "gpt-4o-mini" and settings.rpm is None and settings.tpm is None:
        lines.append(
            f"- The tier presets are gpt-4o-mini's; `{workload.model}` has its own limits "
            "(pass --rpm and --tpm)."
        )
    return lines
