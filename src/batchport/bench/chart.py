"""The completion chart: rows done over emulated time, one line per mode.

matplotlib is optional (the ``bench`` extra): it is imported only when a chart is
drawn, and its absence is reported as :class:`ChartUnavailable` with the install hint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from batchport.bench.headline import format_duration
from batchport.bench.modes import ModeResult
from batchport.errors import ConfigError

__all__ = ["INSTALL_HINT", "ChartUnavailable", "write_chart"]

INSTALL_HINT = "pip install 'batchport[bench]' (or matplotlib) to draw chart.png"
_MAX_POINTS = 2000
_COLORS = {"batch": "tab:green", "sequential": "tab:red", "concurrent": "tab:blue"}


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
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never needs a display
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ChartUnavailable(f"chart not drawn: matplotlib is missing; {INSTALL_HINT}") from exc
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    try:
        for name, m in modes.items():
            if not m.curve or not m.rows:
                continue
            pts = _thin(m.curve)
            xs = [0.0] + [max(t, 1e-3) / 60 for t, _ in pts]
            ys = [0.0] + [100.0 * n / m.rows for _, n in pts]
            label = f"{name} ({format_duration(m.emulated_wall_s)})"
            ax.step(xs, ys, where="post", label=label, color=_COLORS.get(name))
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel("emulated time since start (minutes, log scale above 1)")
        ax.set_ylabel("rows completed (%)")
        ax.set_ylim(0, 105)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right")
        if title:
            ax.set_title(title)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out
