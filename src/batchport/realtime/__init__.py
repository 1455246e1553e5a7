"""Realtime execution: batch requests sent one by one to the synchronous endpoints.

Used by ``batchport bench`` for its sequential and concurrent baselines, and meant as
the fallback when a batch cannot finish in time. See :func:`run_realtime`.
"""

from __future__ import annotations

from batchport.realtime.executor import RealtimeOptions, RealtimeRun, run_realtime
from batchport.realtime.limits import RateLimiter, TokenBucket

__all__ = ["RateLimiter", "RealtimeOptions", "RealtimeRun", "TokenBucket", "run_realtime"]
