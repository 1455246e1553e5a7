"""``batchport bench --sweep``: time and cost against rows, mode by mode, tier by tier.

Each point is a full bench run on the warp loop (every modelled wait taken on the
virtual clock, idle time skipped). Batch time does not depend on the realtime tier
(the batch model has no tier in it) and sequential runs one request at a time, far
under any tier's limits, so both run once per size; the concurrent mode runs at every
size for every tier.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchport.bench.core import BenchSettings, run_bench_sync
from batchport.bench.facts import TIER_SOURCE
from batchport.bench.headline import (
    crossover_lines,
    format_duration,
    markdown_table,
    write_report,
)
from batchport.bench.workload import Workload
from batchport.errors import ConfigError

__all__ = ["SweepPoint", "SweepReport", "parse_rows", "run_sweep"]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One mode at one size (and tier, for the concurrent mode; None when the figure
    holds for every tier). Times in seconds, cost in USD (None when unpriced)."""

    mode: str
    rows: int
    tier: int | None
    emulated_wall_s: float
    real_wall_s: float
    cost_usd: float | None
    workers: int | None = None


def parse_rows(text: str) -> list[int]:
    """``"rows=1e3,1e4,1e5"`` (or just ``"1e3,1e4"``) as sorted row counts.

    Raises:
        ConfigError: not a list of positive numbers.
    """
    body = text.split("=", 1)[1] if text.startswith("rows=") else text
    try:
        rows = sorted({int(float(part)) for part in body.split(",") if part.strip()})
    except ValueError as exc:
        raise ConfigError(f"--sweep takes rows=N,N,...; got {text!r}") from exc
    if not rows or rows[0] < 1:
        raise ConfigError(f"--sweep takes positive row counts; got {text!r}")
    return rows


@dataclass(slots=True)
class SweepReport:
    """Every point of a sweep, with the settings it ran under."""

    settings: BenchSettings
    workload: Workload  # the largest size's workload (its shape is every size's)
    rows: list[int]
    tiers: list[int]
    points: list[SweepPoint]
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )

    def point(self, mode: str, rows: int, tier: int | None = None) -> SweepPoint | None:
        for p in self.points:
            if p.mode == mode and p.rows == rows and (p.tier is None or p.tier == tier):
                return p
        return None

    def measured_crossover(self, tier: int) -> str:
        """Where, among the sizes run, concurrent realtime stops beating batch on time."""
        wins = []
        for n in self.rows:
            b, c = self.point("batch", n), self.point("concurrent", n, tier)
            if b is not None and c is not None:
                wins.append((n, c.emulated_wall_s < b.emulated_wall_s))
        if not wins:
            return "not measured"
        faster = [n for n, w in wins if w]
        slower = [n for n, w in wins if not w]
        if not faster:
            return f"batch was faster at every size run ({wins[0][0]:,} rows and up)"
        if not slower:
            return f"concurrent realtime was faster at every size run (up to {wins[-1][0]:,} rows)"
        later = [n for n in slower if n > max(faster)]
        if later and all(n < min(later) for n in faster):
            return (
                f"concurrent realtime was faster up to {max(faster):,} rows, "
                f"batch from {min(later):,} rows"
            )
        return "concurrent realtime was faster at " + ", ".join(f"{n:,}" for n in faster) + " rows"

    def table(self) -> list[list[str]]:
        head = ["rows", "batch", *(f"concurrent t{t}" for t in self.tiers), "sequential",
                "batch $", "realtime $"]  # fmt: skip
        out = [head]
        for n in self.rows:
            b, s = self.point("batch", n), self.point("sequential", n)
            conc = [self.point("concurrent", n, t) for t in self.tiers]
            rt_cost = next((p.cost_usd for p in [*conc, s] if p and p.cost_usd is not None), None)
            out.append([
                f"{n:,}",
                format_duration(b.emulated_wall_s) if b else "-",
                *(format_duration(c.emulated_wall_s) if c else "-" for c in conc),
                format_duration(s.emulated_wall_s) if s else "-",
                f"{b.cost_usd:,.2f}" if b and b.cost_usd is not None else "-",
                f"{rt_cost:,.2f}" if rt_cost is not None else "-",
            ])  # fmt: skip
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}",
            "rows": self.rows,
            "tiers": self.tiers,
            "tier_source": TIER_SOURCE,
            "workload": {
                "model": self.workload.model,
                "prompt_tokens": self.workload.prompt_tokens,
                "output_tokens": self.workload.output_tokens,
            },
            "crossover_measured": {t: self.measured_crossover(t) for t in self.tiers},
            "points": [dataclasses.asdict(p) for p in self.points],
        }

    def to_markdown(self, chart: str | None = "chart.png") -> str:
        t = self.table()
        st = self.settings
        lines = [
            f"# batchport bench sweep: {', '.join(f'{n:,}' for n in self.rows)} rows at "
            f"tiers {', '.join(map(str, self.tiers))}",
            "",
            f"Workload: model `{self.workload.model}`, prompts of about "
            f"{self.workload.prompt_tokens} tokens, answers of about "
            f"{self.workload.output_tokens} tokens; concurrency {st.concurrency}. "
            f"Created {self.created}. Emulated time to finish each size:",
            "",
            *markdown_table(t),
            "",
            "Batch costs 50% less than realtime at every size. Batch and sequential times "
            "hold for every tier (the batch model has no tier; one request in flight stays "
            "under every tier's limits).",
            "",
            "Measured crossover (among the sizes run):",
            "",
            *(f"- tier {tier}: {self.measured_crossover(tier)}" for tier in self.tiers),
            "",
            *crossover_lines(st, self.workload),
        ]
        if chart:
            lines += ["", f"![time and cost against rows]({chart})"]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | os.PathLike[str], *, chart_name: str | None) -> list[Path]:
        return write_report(out_dir, "sweep", self.to_json(), self.to_markdown(chart_name))


def run_sweep(
    rows: Sequence[int],
    tiers: Sequence[int],
    settings: BenchSettings,
    make_workload: Callable[[int], Workload],
    *,
    on_point: Callable[[SweepPoint], None] | None = None,
) -> SweepReport:
    """Run ``settings.modes`` at every size in ``rows``; concurrent at every tier."""
    if not settings.modelled:
        raise ConfigError("--sweep needs the emulator's realistic profile")
    points: list[SweepPoint] = []
    tiers = sorted(set(tiers))
    sizes = sorted(set(rows))
    workload = make_workload(sizes[-1])
    for n in sizes:
        workload = make_workload(n)
        once = [m for m in settings.modes if m != "concurrent"]
        runs: list[tuple[int | None, Sequence[str]]] = [(None, once)] if once else []
        if "concurrent" in settings.modes:
            runs += [(t, ("concurrent",)) for t in tiers]
        for tier, modes in runs:
            s = dataclasses.replace(settings, modes=tuple(modes), tier=tier or tiers[0])
            report = run_bench_sync(workload, s)
            for name, m in report.modes.items():
                p = SweepPoint(
                    name, n, tier, m.emulated_wall_s, m.real_wall_s, m.cost_usd,
                    s.workers(workload) if name == "concurrent" else None,
                )  # fmt: skip
                points.append(p)
                if on_point is not None:
                    on_point(p)
    return SweepReport(settings, workload, sizes, tiers, points)
