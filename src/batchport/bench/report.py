"""The bench report: ``report.json``, ``report.md`` and the console table."""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchport.bench import headline
from batchport.bench.deadline import deadline_lines
from batchport.bench.facts import DEFAULTS, TIER_SOURCE
from batchport.bench.headline import format_duration, markdown_table, write_report
from batchport.bench.modes import ModeResult
from batchport.bench.workload import Workload

if TYPE_CHECKING:
    from batchport.bench.core import BenchSettings

__all__ = ["BenchReport", "assumptions_of", "format_duration"]

TIME_NOTE = (
    "Emulated time is read from the emulator's virtual clock. During a bench that clock "
    "runs at real speed (scale 1) while the client or the emulator has work to do, and "
    "jumps to the next timer whenever every task is waiting on one (a modelled latency, "
    "a retry-after pause, a rate-limit wait, a poll interval, the batch queue). So "
    "emulated time = every modelled wait in full + this machine's own processing time; "
    "nothing is scaled or extrapolated. Real time is what the bench took on this machine."
)
PROVIDER_NOTE = "Measured against a real provider: emulated time is real time."


def assumptions_of(
    config: dict[str, Any] | None, rpm: int | None, tpm: int | None, concurrency: int
) -> dict[str, Any]:
    """What the emulated numbers rest on, from the emulator's effective config."""
    out: dict[str, Any] = {"realtime_client": {"rpm": rpm, "tpm": tpm, "concurrency": concurrency}}
    if config is None:
        return out
    from batchport_emulator.config import EmulatorConfig

    cfg = EmulatorConfig.model_validate(config)
    out["profile"] = cfg.profile
    out["realtime"] = cfg.realtime.model_dump(mode="json")
    out["batch_progression"] = cfg.progression.model_dump(mode="json")
    out["batch_window_s"] = cfg.batches.completion_window_s
    out["responder_output_words"] = cfg.responder.output_words
    return out


def _mode_json(m: ModeResult) -> dict[str, Any]:
    return {
        "emulated_wall_s": round(m.emulated_wall_s, 3),
        "real_wall_s": round(m.real_wall_s, 3),
        "rows_per_s": round(m.rows_per_s, 4),
        "first_result_s": None if m.first_result_s is None else round(m.first_result_s, 3),
        "cost_per_1k": None if m.cost_per_1k is None else round(m.cost_per_1k, 6),
        "failed": m.failed,
        "retried": m.retried,
        "rows": m.rows,
        "cpu_s": round(m.cpu_s, 3),
        "price_basis": m.price_basis,
        "outcomes": m.outcomes,
        "rate_limited_429": m.rate_limited,
        "server_errors": m.server_errors,
        "cost_usd": None if m.cost_usd is None else round(m.cost_usd, 6),
        "other_price_cost_usd": None if m.other_cost_usd is None else round(m.other_cost_usd, 6),
        "polls": m.polls,
        "shards": m.shards,
        "row_p50_s": None if m.row_p50_s is None else round(m.row_p50_s, 3),
        "row_p99_s": None if m.row_p99_s is None else round(m.row_p99_s, 3),
        "routes": m.routes,
        "deadline_s": m.deadline_s,
        "deadline_met": m.deadline_met,
    }


@dataclass(slots=True)
class BenchReport:
    """Everything a bench measured, plus what it assumed."""

    workload: Workload
    settings: BenchSettings
    modes: dict[str, ModeResult]
    assumptions: dict[str, Any]
    warped: bool
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )

    def to_json(self) -> dict[str, Any]:
        w, st = self.workload, self.settings
        rpm, tpm = st.limits()
        data: dict[str, Any] = {
            "created": self.created,
            "backend": st.backend,
            "profile": st.profile if st.backend == "emulator" else None,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}",
            "workload": {
                "n": w.n,
                "source": w.source,
                "model": w.model,
                "prompt_tokens": w.prompt_tokens,
                "output_tokens": w.output_tokens,
            },
            "tier": {
                "tier": st.tier,
                "rpm": rpm,
                "tpm": tpm,
                "overridden": st.rpm is not None or st.tpm is not None,
                "source": TIER_SOURCE,
            },
            "concurrency": st.workers(w),
            "poll_policy": {
                "interval_s": st.poll_interval_s,
                "max_interval_s": st.poll_max_interval_s,
                "factor": 1.5,
            },
            "time": TIME_NOTE if self.warped else PROVIDER_NOTE,
            "headline": self.summary_lines(),
            "deadline": deadline_lines(self.modes),
            "crossover": headline.crossover_lines(st, w),
            "assumptions": self.assumptions,
            "sources": {k: {"value": f.value, "unit": f.unit, "basis": f.basis,
                            "assumption": f.assumption} for k, f in DEFAULTS.items()},
            "modes": {name: _mode_json(m) for name, m in self.modes.items()},
        }  # fmt: skip
        return data

    def table(self) -> list[list[str]]:
        """Rows of the comparison table (header first), shared by console and markdown."""
        head = ["mode", "emulated wall", "real wall", "rows/s", "first result",
                "row p50 / p99", "$ / 1k rows", "failed", "retried", "429 / 5xx"]  # fmt: skip
        rows = [head]
        for name, m in self.modes.items():
            cost = "-" if m.cost_per_1k is None else f"{m.cost_per_1k:.4f} ({m.price_basis})"
            tail = (
                "-"
                if m.row_p50_s is None
                else f"{format_duration(m.row_p50_s)} / {format_duration(m.row_p99_s)}"
            )
            batchlike = name in ("batch", "deadline")
            errors = "-" if batchlike else f"{m.rate_limited} / {m.server_errors}"
            rows.append([
                name, format_duration(m.emulated_wall_s), f"{m.real_wall_s:.1f} s",
                f"{m.rows_per_s:.2f}", format_duration(m.first_result_s), tail, cost,
                str(m.failed), str(m.retried), errors,
            ])  # fmt: skip
        return rows

    def summary_lines(self) -> list[str]:
        """The headline: batch against concurrent realtime, cost, then sequential."""
        return headline.headline_lines(self.settings, self.workload, self.modes)

    def to_markdown(self, chart: str | None = "chart.png") -> str:
        w, st, t = self.workload, self.settings, self.table()
        batch = self.modes.get("batch")
        lines = [
            f"# batchport bench: {w.n:,} requests, batch or realtime",
            "",
            f"Backend: {st.backend}"
            + (f" (profile `{st.profile}`)" if self.warped else "")
            + f". Workload: {w.source}, model `{w.model}`, prompts of about "
            f"{w.prompt_tokens} tokens, answers of about {w.output_tokens} tokens. "
            f"Created {self.created}.",
            "",
            "## Batch or realtime?",
            "",
            *self.summary_lines(),
            "",
            *headline.crossover_lines(st, w),
            "",
            *(
                ["## Deadline", "", *deadline_lines(self.modes), ""]
                if "deadline" in self.modes
                else []
            ),
            "## Figures",
            "",
            *markdown_table(t),
            "",
            "Row p50 / p99: time from a worker taking a row to its settled result (rate-limit "
            "waits, retries and latency included). 429 / 5xx: answers the client got and "
            "retried.",
            "",
            "## Polling",
            "",
            *(headline.poll_lines(st, batch) or ["- No batch mode ran."]),
            "",
            "## How time is measured",
            "",
            TIME_NOTE if self.warped else PROVIDER_NOTE,
            "",
            "## Assumptions and sources",
            "",
            *headline.assumption_lines(st, w),
        ]
        if chart:
            lines += ["", f"![completion over time]({chart})"]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | os.PathLike[str], *, chart_name: str | None) -> list[Path]:
        """Write ``report.json`` and ``report.md`` into ``out_dir``; return the paths."""
        return write_report(out_dir, "report", self.to_json(), self.to_markdown(chart_name))
