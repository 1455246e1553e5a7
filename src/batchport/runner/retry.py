"""The one retry layer: transient API failures retried with capped, jittered backoff
on the injected clock, honouring the provider's ``Retry-After``.

SDK clients make no retries of their own, so one failing call costs at most
``retries + 1`` attempts. A create that failed may still have created the job: the
``recover`` step looks for it before the call is repeated, so nothing is submitted
twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from batchport.errors import BackendError, QuotaExceededError, ResultLineError, TransportError
from batchport.runner.clock import Clock
from batchport.runner.policy import Backoff

__all__ = ["Retrier"]

log = logging.getLogger("batchport.runner")
T = TypeVar("T")
#: a dead endpoint (no connection made at all) gets this many quick retries, not minutes
_DEAD_RETRIES = 2


class Retrier:
    """Retries retryable :class:`BackendError` s up to ``retries`` times.

    Quota refusals and unreadable results are not retried here: the runner requeues
    the first and fetches results again for the second, each on its own schedule.
    """

    def __init__(self, clock: Clock, retries: int, backoff: Backoff | None = None) -> None:
        self.clock = clock
        self.retries = retries
        self.backoff = backoff or Backoff(base=1.0, factor=2.0, cap=60.0)

    async def call(
        self,
        what: str,
        fn: Callable[[], Awaitable[T]],
        *,
        recover: Callable[[], Awaitable[T | None]] | None = None,
    ) -> T:
        """``await fn()``, retried; before a repeat after a failure that may have taken
        effect all the same (no answer, or a 5xx), ``recover()`` may return the result of
        an attempt that succeeded after all (then ``fn`` is not repeated)."""
        attempt = 0
        while True:
            look = False
            try:
                return await fn()
            except (QuotaExceededError, ResultLineError):
                raise
            except BackendError as exc:
                look = recover is not None and _may_have_happened(exc)
                dead = isinstance(exc, TransportError) and exc.connect_failed
                budget = min(self.retries, _DEAD_RETRIES) if dead else self.retries
                if not exc.retryable or attempt >= budget:
                    raise
                if dead:  # nothing listens there: a couple of quick tries, not minutes
                    delay = min(1.0, self.backoff.delay(attempt))
                else:
                    delay = self.backoff.delay(attempt, at_least=exc.retry_after)
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                await self.clock.sleep(delay)
                attempt += 1
            if look:
                assert recover is not None
                found = await self.call(f"{what} (look-up)", recover)
                if found is not None:
                    return found


def _may_have_happened(exc: BackendError) -> bool:
    """Whether the failed call may have taken effect all the same: not when the
    provider answered with a refusal (4xx: a 429 is refused before anything is made),
    nor when no connection was made; a dropped answer or a 5xx cannot tell."""
    if isinstance(exc, TransportError):
        return not exc.connect_failed
    return exc.status_code is None or exc.status_code >= 500
