"""The runner's view of planning; the planner itself is :mod:`batchport.planning`, which
imports nothing of the runner (so ``batchport validate`` can plan without loading the
engine)."""

from __future__ import annotations

from batchport.planning import (
    Plan,
    Sharder,
    ShardPlan,
    ShardSink,
    estimate_cost,
    plan_requests,
    price_model,
)

__all__ = [
    "Plan",
    "ShardPlan",
    "ShardSink",
    "Sharder",
    "estimate_cost",
    "plan_requests",
    "price_model",
]
