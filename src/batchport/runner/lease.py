"""One driver per run: an exclusive lease recorded in the run store.

A process takes the run's lease before it sends anything, renews it while it works and
releases it when it stops. A second process is refused with one line naming the
holder, or waits for it (``wait_for_lock``). A lease whose holder is gone is taken
over: one whose expiry passed without a renewal (any host), or one held by a process
of this host that no longer exists (or by a driver of this process that has stopped:
one whose store connection dropped before it could release the lease). Taking a lease
is a compare-and-set in the store, so two processes cannot both win it; the same
mechanism serves several workers sharing one store.

Leases measure wall-clock time (other processes judge them by it), so renewals wait
on real time, never on a run's injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from batchport.errors import RunError
from batchport.runner.claims import LIVE_OWNERS, holder_gone
from batchport.store import Lease, RunStore

__all__ = [
    "DEFAULT_TTL_S",
    "LeaseLost",
    "RunBusy",
    "drive_with_lease",
    "heartbeat",
    "hold_lease",
]

log = logging.getLogger("batchport.runner")
DEFAULT_TTL_S = 60.0
T = TypeVar("T")


@dataclasses.dataclass(slots=True)
class _Held:
    store: RunStore
    lease: Lease
    ttl: float
    renewed: float


_current: contextvars.ContextVar[_Held | None] = contextvars.ContextVar(
    "batchport_lease", default=None
)


def heartbeat() -> None:
    """Renew the lease this task's work holds, if a third of its time has passed.

    For long synchronous stretches (preparing millions of rows) that keep the event loop,
    and with it the regular renewal, from running. Raises :class:`LeaseLost` when another
    process took the run over.
    """
    held = _current.get()
    if held is None:
        return
    now = time.time()
    if now - held.renewed < held.ttl / 3:
        return
    if not held.store.renew_lease(held.lease.run_id, held.lease.owner, now + held.ttl, now=now):
        raise LeaseLost(f"run {held.lease.run_id}: another process took over its lease")
    held.renewed = now


class RunBusy(RunError):
    """Another process drives the run. ``holder`` is its lease."""

    def __init__(self, holder: Lease) -> None:
        self.holder = holder
        since = time.strftime("%H:%M:%S", time.localtime(holder.acquired_at))
        super().__init__(
            f"run {holder.run_id} is being driven by pid {holder.pid} on {holder.host} "
            f"(since {since}); wait for it to finish, or pass --wait-for-lock"
        )


class LeaseLost(RunError):
    """This process no longer holds the run's lease (another took it over after it
    expired); it stops before doing anything more."""


def _owner() -> tuple[str, str, int]:
    host, pid = socket.gethostname(), os.getpid()
    return f"{host}:{pid}:{secrets.token_hex(4)}", host, pid


def _try_take(store: RunStore, run_id: str, owner: str, host: str, pid: int, ttl: float) -> Lease:
    now = time.time()
    mine = Lease(run_id, owner, host, pid, now, now, now + ttl)
    held = store.take_lease(mine, now=now)
    # gone: a process of this host that no longer exists, or a stopped driver of this one
    if held.owner != owner and holder_gone(held.owner):
        whose = "a stopped driver of this process" if held.pid == pid else f"pid {held.pid}"
        log.warning("run %s: taking over the lease of %s, which is gone", run_id, whose)
        held = store.take_lease(mine, replacing=held.owner, now=now)
    return held


@contextlib.asynccontextmanager
async def hold_lease(
    store: RunStore,
    run_id: str,
    *,
    ttl: float = DEFAULT_TTL_S,
    wait_for_lock: float | None = None,
) -> AsyncIterator[Lease]:
    """Hold the run's lease for the block (renewed every ``ttl / 3`` seconds).

    Raises:
        RunBusy: another live process holds it (after ``wait_for_lock`` seconds, if given).
    """
    owner, host, pid = _owner()
    deadline = time.monotonic() + (wait_for_lock or 0.0)
    delay = 0.2
    while True:
        held = _try_take(store, run_id, owner, host, pid, ttl)
        if held.owner == owner:
            break
        if wait_for_lock is None or time.monotonic() >= deadline:
            raise RunBusy(held)
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 5.0)
    LIVE_OWNERS.add(owner)
    try:
        yield held
    finally:
        LIVE_OWNERS.discard(owner)  # released below, or, if the store is gone, left to lapse
        store.release_lease(run_id, owner)


async def _renew(store: RunStore, lease: Lease, ttl: float) -> None:
    while True:
        await asyncio.sleep(ttl / 3)
        now = time.time()
        if not store.renew_lease(lease.run_id, lease.owner, now + ttl, now=now):
            raise LeaseLost(
                f"run {lease.run_id}: another process took over its lease; this one stops"
            )


async def drive_with_lease(
    store: RunStore,
    run_id: str,
    work: Callable[[], Awaitable[T]],
    *,
    ttl: float = DEFAULT_TTL_S,
    wait_for_lock: float | None = None,
) -> T:
    """Await ``work()`` while holding the run's lease, renewing it; if the lease is
    lost, the work is cancelled and :class:`LeaseLost` raised. ``work`` is called only
    once the lease is held."""
    async with hold_lease(store, run_id, ttl=ttl, wait_for_lock=wait_for_lock) as lease:
        token = _current.set(_Held(store, lease, ttl, time.time()))
        try:
            job = asyncio.ensure_future(work())  # the task copies the context: it sees the lease
        finally:
            _current.reset(token)
        renew = asyncio.ensure_future(_renew(store, lease, ttl))
        try:
            await asyncio.wait({job, renew}, return_when=asyncio.FIRST_COMPLETED)
            if not job.done():  # the renewal failed: stop working
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
                renew.result()
            return job.result()
        finally:
            for task in (job, renew):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
