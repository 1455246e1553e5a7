"""Wake-ups: a shard waiting for its next poll learns early that its job changed.

A run with webhooks waits between polls of a job through :meth:`Wakeups.wait`
instead of a plain sleep. The wait ends early, and the engine polls the job at once,
when

- the run's own receiver (``WebhookOptions(secret=...)``, served for the run's
  length) accepts a verified event naming the job: :meth:`Wakeups.wake`; or
- the shard's ``woken_at`` moved in the store: another process's receiver
  (``batchport webhooks serve --store``) saw such an event. The wait looks every
  ``store_check_s`` seconds of the run's clock (one primary-key read).

Otherwise it lasts the whole interval, which webhooks make long
(``poll_fallback_s``): a lost webhook costs latency, never a result. An event is a
hint to look, never a status: the poll decides, so a duplicated, reordered or stale
event costs at most one extra poll. Forged deliveries never get this far (the
receiver verifies signatures, timestamps and replays).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import TYPE_CHECKING

from batchport.errors import ConfigError
from batchport.runner.clock import Clock
from batchport.runner.policy import PollPolicy
from batchport.store import RunStore, ShardRecord

if TYPE_CHECKING:
    from batchport.backends.base import Backend
    from batchport.webhooks import BatchEvent, WebhookOptions

__all__ = ["Wakeups", "wakeups_for"]

log = logging.getLogger("batchport.runner")

#: in-process wake-ups kept for jobs no shard has waited on yet (an endpoint may get
#: events of other runs); the oldest are forgotten first
_MAX_PENDING = 10_000


def _key(job_id: str) -> str:
    # Gemini names a batch "batches/x"; a shard may hold either spelling
    return job_id.removeprefix("batches/")


def wakeups_for(
    store: RunStore,
    run_id: str,
    clock: Clock,
    webhooks: WebhookOptions | None,
    backend: Backend,
) -> Wakeups | None:
    """The run's wake-ups, or None: without webhooks, or when ``backend``'s provider
    sends none (Anthropic's message batches). Then the shards are polled at the run's own
    interval, not only every ``poll_fallback_s`` seconds waiting for events that never
    come; a warning says so."""
    if webhooks is None:
        return None
    if not backend.sends_webhooks:
        log.warning(
            "run %s: %s sends no batch webhooks; its shards are polled as usual",
            run_id,
            backend.provider,
        )
        return None
    return Wakeups(store, run_id, clock, webhooks)


class Wakeups:
    """The waits of one run's shards, and what ends them early.

    Use from the run's event loop. :meth:`start` serves the receiver when the options
    carry a secret; :meth:`aclose` stops it. ``woken`` counts the waits cut short.
    """

    def __init__(self, store: RunStore, run_id: str, clock: Clock, options: WebhookOptions) -> None:
        self.store = store
        self.run_id = run_id
        self.clock = clock
        self.options = options
        self.url: str | None = None
        self.woken = 0
        self._pending: dict[str, None] = {}
        self._changed = asyncio.Event()
        self._seen: dict[str, float | None] = {}
        self._stack = contextlib.AsyncExitStack()

    def __repr__(self) -> str:
        return f"Wakeups(run_id={self.run_id!r}, url={self.url!r}, options={self.options!r})"

    def poll_policy(self, base: PollPolicy) -> PollPolicy:
        """The run's poll policy with webhooks: one poll per ``poll_fallback_s``
        (instead of the run's interval or the backend's hint); the stall timeout stays."""
        fallback = self.options.poll_fallback_s
        return PollPolicy(
            interval=fallback, max_interval=fallback, factor=1.0, stall_timeout=base.stall_timeout
        )

    # -- the receiver ------------------------------------------------------------------
    async def start(self) -> None:
        """Serve the receiver (with a secret); raises ``OSError`` if the port is taken."""
        opts = self.options
        if opts.secret is None:
            log.info("run %s: waiting for webhook wake-ups in the store", self.run_id)
            return
        from batchport.webhooks import make_app
        from batchport.webhooks.serve import serving

        app = make_app(
            opts.secret, self._on_event, path=opts.path, tolerance_s=opts.tolerance_s,
            clock=opts.clock,
        )  # fmt: skip
        try:
            self.url = await self._stack.enter_async_context(
                serving(app, opts.host, opts.port, opts.path)
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot receive webhooks on {opts.host}:{opts.port}: {exc.strerror or exc}"
            ) from None
        log.info("run %s: receiving webhooks at %s", self.run_id, self.url)
        if opts.on_listening is not None:
            said = opts.on_listening(self.url)
            if inspect.isawaitable(said):
                await said

    async def aclose(self) -> None:
        """Stop the receiver; safe to call twice."""
        await self._stack.aclose()

    def _on_event(self, event: BatchEvent) -> None:
        log.debug("run %s: webhook %s %s", self.run_id, event.type, event.batch_id)
        self.wake(event.batch_id)

    def wake(self, job_id: str) -> None:
        """The job may have changed: a shard waiting on it polls it now (or, if none
        waits yet, does not wait at its next wait)."""
        key = _key(job_id)
        self._pending.pop(key, None)
        self._pending[key] = None
        while len(self._pending) > _MAX_PENDING:
            del self._pending[next(iter(self._pending))]
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- waiting -----------------------------------------------------------------------
    async def wait(self, shard: ShardRecord, job_id: str, seconds: float) -> bool:
        """Sleep ``seconds`` on the run's clock, less if woken; True when woken."""
        key = _key(job_id)
        deadline = self.clock.now() + seconds
        while True:
            if key in self._pending or self._store_moved(shard):
                self._pending.pop(key, None)
                self.woken += 1
                log.debug("run %s: shard %s woken", self.run_id, shard.shard_id)
                return True
            left = deadline - self.clock.now()
            if left <= 0:
                return False
            await self._nap(min(left, self.options.store_check_s))

    def _store_moved(self, shard: ShardRecord) -> bool:
        seen = self._seen.setdefault(shard.shard_id, shard.woken_at)
        now = self.store.get_shard(self.run_id, shard.shard_id).woken_at
        if now == seen:
            return False
        self._seen[shard.shard_id] = now
        return True

    async def _nap(self, seconds: float) -> None:
        """Sleep on the clock, ended early by an in-process wake-up."""
        if self.url is None:  # no receiver here: nothing in-process can wake us
            await self.clock.sleep(seconds)
            return
        sleep = asyncio.ensure_future(self.clock.sleep(seconds))
        woken = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait((sleep, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleep, woken):
                task.cancel()
            await asyncio.gather(sleep, woken, return_exceptions=True)
