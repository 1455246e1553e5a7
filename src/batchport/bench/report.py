"""The bench report: ``report.json``, ``report.md`` and the console table."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def format_duration(seconds: float | None) -> str:
    """``"42 s"``, ``"8.1 min"``, ``"11.3 h"``; ``"-"`` for None."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def assumptions_of(
    config: dict[str, Any] | None, rpm: int | None, tpm: int | None, concurrency: int
) -> dict[str, Any]:
    """What the emulated numbers rest on, from the emulator's effective config."""
    out: dict[str, Any] = {"realtime_client": {"rpm": rpm, "tpm": tpm, "concurrency": concurrency}}
    if config is None:
        return out
    from batchport.runner.policy import PollPolicy
    from batchport_emulator.config import EmulatorConfig

    cfg = EmulatorConfig.model_validate(config)
    out["profile"] = cfg.profile
    out["realtime"] = cfg.realtime.model_dump(mode="json")
    out["batch_progression"] = cfg.progression.model_dump(mode="json")
    out["responder_output_words"] = cfg.responder.output_words
    poll = PollPolicy()
    out["runner_poll"] = {"interval_s": poll.interval, "max_interval_s": poll.max_interval}
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

    def shape(self) -> dict[str, bool] | None:
        """Whether sequential took over 10 h and batch under 1 h (None without both)."""
        seq, batch = self.modes.get("sequential"), self.modes.get("batch")
        if seq is None or batch is None:
            return None
        return {
            "sequential_over_10h": seq.emulated_wall_s > 36_000,
            "batch_under_1h": batch.emulated_wall_s < 3_600,
        }

    def to_json(self) -> dict[str, Any]:
        w = self.workload
        return {
            "created": self.created,
            "backend": self.settings.backend,
            "profile": self.settings.profile if self.settings.backend == "emulator" else None,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}",
            "workload": {
                "n": w.n,
                "source": w.source,
                "model": w.model,
                "prompt_tokens": w.prompt_tokens,
                "output_tokens": w.output_tokens,
            },
            "time": TIME_NOTE if self.warped else PROVIDER_NOTE,
            "assumptions": self.assumptions,
            "modes": {name: _mode_json(m) for name, m in self.modes.items()},
            "shape": self.shape(),
        }

    def table(self) -> list[list[str]]:
        """Rows of the comparison table (header first), shared by console and markdown."""
        head = ["mode", "emulated wall", "real wall", "rows/s", "first result",
                "$ / 1k rows", "failed", "retried"]  # fmt: skip
        rows = [head]
        for name, m in self.modes.items():
            cost = "-" if m.cost_per_1k is None else f"{m.cost_per_1k:.4f} ({m.price_basis})"
            rows.append([
                name, format_duration(m.emulated_wall_s), f"{m.real_wall_s:.1f} s",
                f"{m.rows_per_s:.2f}", format_duration(m.first_result_s), cost,
                str(m.failed), str(m.retried),
            ])  # fmt: skip
        return rows

    def to_markdown(self, chart: str | None = "chart.png") -> str:
        w, t = self.workload, self.table()
        lines = [
            f"# batchport bench: {w.n:,} requests, three ways",
            "",
            f"Backend: {self.settings.backend}"
            + (f" (profile `{self.settings.profile}`)" if self.warped else "")
            + f". Workload: {w.source}, model `{w.model}`, prompts of about "
            f"{w.prompt_tokens} tokens, answers of about {w.output_tokens} tokens. "
            f"Created {self.created}.",
            "",
            "| " + " | ".join(t[0]) + " |",
            "|" + "---|" * len(t[0]),
            *("| " + " | ".join(r) + " |" for r in t[1:]),
            "",
            *self.summary_lines(),
            "",
            "## How time is measured",
            "",
            TIME_NOTE if self.warped else PROVIDER_NOTE,
            "",
            *self._assumption_lines(),
        ]
        if chart:
            lines += ["", f"![completion over time]({chart})"]
        return "\n".join(lines) + "\n"

    def summary_lines(self) -> list[str]:
        out: list[str] = []
        seq, batch = self.modes.get("sequential"), self.modes.get("batch")
        if seq and batch and batch.emulated_wall_s > 0:
            out.append(
                f"- Batch finished in {format_duration(batch.emulated_wall_s)} against "
                f"{format_duration(seq.emulated_wall_s)} sequentially "
                f"({seq.emulated_wall_s / batch.emulated_wall_s:.1f}x faster)."
            )
        shape = self.shape()
        if shape is not None:
            out.append(
                f"- Over 10 hours sequentially: {'yes' if shape['sequential_over_10h'] else 'no'}; "
                f"under 1 hour as a batch: {'yes' if shape['batch_under_1h'] else 'no'}."
            )
        priced = [m for m in self.modes.values() if m.cost_per_1k is not None]
        if batch and batch.cost_per_1k is not None and len(priced) > 1:
            rt = max(m.cost_per_1k or 0.0 for m in priced if m.mode != "batch")
            if rt > 0:
                out.append(
                    f"- Cost per 1,000 rows: ${batch.cost_per_1k:.4f} as a batch, "
                    f"${rt:.4f} in realtime (batch saves {1 - batch.cost_per_1k / rt:.0%})."
                )
        return out

    def _assumption_lines(self) -> list[str]:
        a = self.assumptions
        lines = ["## Assumptions", ""]
        rt, prog = a.get("realtime"), a.get("batch_progression")
        if isinstance(rt, dict):
            lines.append(
                f"- Realtime latency per request: {rt['latency_base_s']} s + "
                f"{rt['latency_per_output_token_s']} s per output token, "
                f"±{rt['latency_jitter']:.0%} jitter; server limits {rt['rpm']} RPM and "
                f"{rt['tpm']:,} TPM (prompt estimate plus max_tokens), 429 with retry-after."
            )
        if isinstance(prog, dict) and prog.get("kind") == "throughput":
            lines.append(
                f"- Batch: queued {prog['queue_delay_s']} s, validating {prog['validating_s']} s, "
                f"then {prog['requests_per_s']} rows/s per batch, finalizing "
                f"{prog['finalizing_s']} s."
            )
        poll = a.get("runner_poll")
        if isinstance(poll, dict):
            lines.append(
                f"- The batch runner polls every {poll['interval_s']} s, backing off to "
                f"{poll['max_interval_s']} s while nothing changes; its time includes that lag."
            )
        c = a["realtime_client"]
        lines.append(
            f"- Realtime client: sequential = 1 request in flight; concurrent = "
            f"{c['concurrency']} workers; client-side limits {c['rpm']} RPM / {c['tpm']} TPM."
        )
        lines.append(
            "- Costs use the packaged price table: realtime rows at the standard price, batch "
            "rows at the batch discount."
        )
        return lines

    def write(self, out_dir: str | os.PathLike[str], *, chart_name: str | None) -> list[Path]:
        """Write ``report.json`` and ``report.md`` into ``out_dir``; return the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        js, md = out / "report.json", out / "report.md"
        js.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        md.write_text(self.to_markdown(chart_name), encoding="utf-8")
        return [js, md]
