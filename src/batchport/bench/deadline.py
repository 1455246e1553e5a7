"""The bench's deadline scenario: batch only, batch with a deadline, realtime only.

``batchport bench --deadline 2h`` runs the ``deadline`` mode beside ``batch`` and
``concurrent``: the same workload as a batch that must end by the deadline, its slow
shards cancelled at the latest safe moment and their unfinished rows served realtime
(the concurrent mode's workers, the tier's limits). :func:`deadline_lines` says, side
by side, what each way took and cost, and what keeping the deadline cost over waiting.
"""

from __future__ import annotations

from collections.abc import Mapping

from batchport.bench.headline import format_duration
from batchport.bench.modes import ModeResult

__all__ = ["deadline_lines"]


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.4f}"


def deadline_lines(modes: Mapping[str, ModeResult]) -> list[str]:
    """The deadline section of the report (empty when the deadline mode did not run)."""
    dl = modes.get("deadline")
    if dl is None or dl.deadline_s is None:
        return []
    batch, rt = modes.get("batch"), modes.get("concurrent") or modes.get("sequential")
    routes = dl.routes or {}
    split = ", ".join(f"{n:,} {name}" for name, n in routes.items()) or "none"
    met = "met" if dl.deadline_met else "missed"
    out = [
        f"- **Deadline {format_duration(dl.deadline_s)}: {met}.** With the deadline the run "
        f"took {format_duration(dl.emulated_wall_s)} and cost {_usd(dl.cost_usd)} "
        f"(rows by route: {split}).",
    ]
    if batch is not None:
        late = batch.emulated_wall_s > dl.deadline_s
        out.append(
            f"- Batch only: {format_duration(batch.emulated_wall_s)} "
            f"({'past' if late else 'within'} the deadline), {_usd(batch.cost_usd)}."
        )
        if dl.cost_usd is not None and batch.cost_usd is not None:
            out.append(
                f"- Keeping the deadline cost {_usd(dl.cost_usd - batch.cost_usd)} more than "
                "waiting for the batch."
            )
    if rt is not None:
        out.append(
            f"- Realtime only ({rt.mode}): {format_duration(rt.emulated_wall_s)}, "
            f"{_usd(rt.cost_usd)}."
        )
    return out
