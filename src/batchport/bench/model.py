"""Closed-form estimates of the bench's model: what bounds each mode, and the crossover.

The bench measures; this module only explains. For a workload it says how fast the
concurrent mode can go at a tier (the least of workers / mean latency, RPM / 60 and
TPM / 60 / tokens per request) and, from the batch model's fixed overhead and shared
throughput, up to how many rows concurrent realtime finishes first. Injected errors
and poll lag beyond half the longest poll interval are left out; the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Crossover", "RealtimeRate", "crossover", "realtime_rate"]


@dataclass(frozen=True, slots=True)
class RealtimeRate:
    """Rows a second the concurrent mode can reach, and which limit sets it
    (``"concurrency"``, ``"RPM"`` or ``"TPM"``)."""

    rows_per_s: float
    bound: str
    workers_to_saturate: int


def realtime_rate(
    concurrency: int, mean_latency_s: float, rpm: int | None, tpm: int | None, tokens: int
) -> RealtimeRate:
    """How fast ``concurrency`` workers go under ``rpm``/``tpm`` with requests that count
    ``tokens`` tokens each and answer after ``mean_latency_s`` on average."""
    limits = {"concurrency": concurrency / mean_latency_s if mean_latency_s > 0 else math.inf}
    if rpm is not None:
        limits["RPM"] = rpm / 60
    if tpm is not None:
        limits["TPM"] = tpm / 60 / max(1, tokens)
    bound = min(limits, key=lambda k: limits[k])
    server = min(v for k, v in limits.items() if k != "concurrency") if len(limits) > 1 else 0.0
    need = math.ceil(server * mean_latency_s) if server else concurrency
    return RealtimeRate(limits[bound], bound, need)


@dataclass(frozen=True, slots=True)
class Crossover:
    """Where concurrent realtime stops beating batch on time.

    ``rows`` is the size below which concurrent finishes first; ``math.inf`` when it
    always does (it outruns the batch throughput), 0 when it never does.
    """

    rows: float
    batch_overhead_s: float

    def describe(self) -> str:
        if self.rows == math.inf:
            return "at every size (it outruns the batch capacity)"
        if self.rows <= 0:
            return "at no size"
        return f"below about {_round(self.rows):,} rows"


def crossover(
    realtime_rows_per_s: float,
    mean_latency_s: float,
    batch_rows_per_s: float,
    batch_overhead_s: float,
) -> Crossover:
    """Solve ``n / realtime + latency = overhead + n / batch`` for ``n``."""
    if realtime_rows_per_s >= batch_rows_per_s:
        rows = math.inf if batch_overhead_s >= mean_latency_s else 0.0
        return Crossover(rows, batch_overhead_s)
    gap = batch_overhead_s - mean_latency_s
    per_row = 1 / realtime_rows_per_s - 1 / batch_rows_per_s
    return Crossover(max(0.0, gap / per_row), batch_overhead_s)


def _round(n: float) -> int:
    """Two significant figures: 1,234 -> 1,200."""
    if n < 100:
        return max(1, round(n))
    digits = int(math.log10(n)) - 1
    return int(round(n, -digits))
