"""The completion chart: rows done over emulated time, one line per mode.

matplotlib is optional (the ``bench`` extra): it is imported only when a chart is
drawn, and its absence is reported as :class:`ChartUnavailable` with the install hint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchport.bench.headline import format_duration
from batchport.bench.modes import ModeResult
from batchport.errors import ConfigError

if TYPE_CHECKING:
    from batchport.bench.sweep import SweepReport

__all__ = ["INSTALL_HINT", "ChartUnavailable", "write_chart", "write_sweep_chart"]

INSTALL_HINT = "pip install 'batchport[bench]' (or matplotlib) to draw chart.png"
_MAX_POINTS = 2000
_COLORS = {
    "batch": "tab:green",
    "sequential": "tab:red",
    "concurrent": "tab:blue",
    "deadline": "tab:orange",
}


class ChartUnavailable(ConfigError):
    """matplotlib is not installed."""


def _thin(curve: list[tuple[float, int]]) -> list[tuple[float, int]]:
    if len(curve) <= _MAX_POINTS:
        return curve
    step = len(curve) / _MAX_POINTS
    picked = [curve[int(i * step)] for i in range(_MAX_POINTS)]
    return [*picked, curve[-1]]


def write_chart(
    modes: Mapping[str, ModeResult], path: str | os.PathLike[str], *, title: str = ""
) -> Path:
    """Draw completion over emulated time (log-scaled minutes) into ``path`` (PNG).

    Raises:
        ChartUnavailable: matplotlib cannot be imported.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.5), dpi=110)
    try:
        for name, m in modes.items():
            if not m.curve or not m.rows:
                continue
            pts = _thin(m.curve)
            xs = [0.0] + [max(t, 1e-3) / 60 for t, _ in pts]
            ys = [0.0] + [100.0 * n / m.rows for _, n in pts]
            label = f"{name} ({format_duration(m.emulated_wall_s)})"
            ax.step(xs, ys, where="post", label=label, color=_COLORS.get(name))
            if m.deadline_s is not None:
                ax.axvline(m.deadline_s / 60, color=_COLORS["deadline"], linestyle=":",
                           label=f"the deadline ({format_duration(m.deadline_s)})")  # fmt: skip
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel("emulated time since start (minutes, log scale above 1)")
        ax.set_ylabel("rows completed (%)")
        ax.set_ylim(0, 105)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        if title:
            ax.set_title(title)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never needs a display
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ChartUnavailable(f"chart not drawn: matplotlib is missing; {INSTALL_HINT}") from exc
    return plt


_TIER_COLORS = ["#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b"]


def write_sweep_chart(sweep: SweepReport, path: str | os.PathLike[str]) -> Path:
    """Draw emulated time to finish and cost against rows, one line per mode (and per
    tier for the concurrent mode), on log-log axes, legend outside the plots.

    Raises:
        ChartUnavailable: matplotlib cannot be imported.
    """
    plt = _pyplot()
    fig, (t_ax, c_ax) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110)
    try:
        lines: list[tuple[str, str, int | None]] = []
        if any(p.mode == "batch" for p in sweep.points):
            lines.append(("batch", "batch (every tier)", None))
        for t in sweep.tiers:
            lines.append(("concurrent", f"concurrent, tier {t}", t))
        if any(p.mode == "sequential" for p in sweep.points):
            lines.append(("sequential", "sequential (every tier)", None))
        priced: set[str] = set()
        for mode, label, tier in lines:
            pts = [sweep.point(mode, n, tier) for n in sweep.rows]
            got = [p for p in pts if p is not None]
            if not got:
                continue
            color = (
                _TIER_COLORS[min(len(_TIER_COLORS) - 1, (tier or 1) - 1)]
                if mode == "concurrent"
                else _COLORS[mode]
            )
            xs = [p.rows for p in got]
            t_ax.plot(xs, [p.emulated_wall_s / 3600 for p in got], "o-", color=color, label=label)
            costs = [(p.rows, p.cost_usd) for p in got if p.cost_usd is not None]
            basis = "batch" if mode == "batch" else "realtime"
            if costs and basis not in priced:  # every realtime mode costs the same
                priced.add(basis)
                name = f"{basis} price" + (" (any realtime mode)" if basis == "realtime" else "")
                c_ax.plot(*zip(*costs, strict=True), "o-", color=_COLORS[mode], label=name)
        for ax in (t_ax, c_ax):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("rows (log scale)")
            ax.grid(True, which="both", alpha=0.3)
        t_ax.axhline(24, color="grey", linestyle="--", linewidth=1)
        t_ax.set_ylabel("emulated time to finish (hours, log scale)")
        t_ax.set_title("time: the 24 h window dashed")
        c_ax.set_ylabel("cost of the run (USD, log scale)")
        c_ax.set_title("cost: batch is 50% of realtime")
        t_ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=2, borderaxespad=0)
        c_ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.16), borderaxespad=0)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out
