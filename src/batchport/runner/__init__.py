"""The runner: from a list of requests to one reconciled result per request.

Sync twins run the async functions through :func:`batchport.sync.run_sync`.
"""

from __future__ import annotations

from typing import Any

from batchport.runner.api import new_run_id, plan, resume, run
from batchport.runner.cancel import cancel
from batchport.runner.clock import Clock, InstantClock, SystemClock
from batchport.runner.options import RunOptions
from batchport.runner.outcomes import Outcome
from batchport.runner.plan import Plan, ShardPlan
from batchport.runner.policy import PollPolicy, QuotaLimit
from batchport.runner.results import RunResult
from batchport.runner.run import Run, open_run

__all__ = [
    "Clock",
    "InstantClock",
    "Outcome",
    "Plan",
    "PollPolicy",
    "QuotaLimit",
    "Run",
    "RunOptions",
    "RunResult",
    "ShardPlan",
    "SystemClock",
    "cancel",
    "cancel_sync",
    "new_run_id",
    "open_run",
    "plan",
    "resume",
    "resume_sync",
    "run",
    "run_sync",
]


def run_sync(*args: Any, **kwargs: Any) -> Run:
    """:func:`run` for scripts without an event loop."""
    from batchport.sync import run_sync as _portal

    return _portal(run, *args, **kwargs)


def resume_sync(*args: Any, **kwargs: Any) -> Run:
    from batchport.sync import run_sync as _portal

    return _portal(resume, *args, **kwargs)


def cancel_sync(*args: Any, **kwargs: Any) -> Run:
    from batchport.sync import run_sync as _portal

    return _portal(cancel, *args, **kwargs)
