"""Shard leases: which process drives which shard, so that several can share runs.

Every driver (``bp.run``, ``batchport wait``, a ``batchport worker``) takes a shard's
lease in the store before it works on the shard, renews every lease it holds every
``ttl / 3`` seconds, and gives each up when it stops driving it. A lease whose expiry
passed without a renewal is free to anyone; one held by a process of this host that no
longer exists (or by a driver of this process that has stopped) is taken over at once.
A driver checks that it still holds the lease right before it sends anything that
creates a job, so a worker that stalled past its lease does not submit a shard another
worker has taken over.

Leases measure wall-clock time (other processes judge them by it), never a run's
injected clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from batchport.errors import RunError
from batchport.store import RunStore, ShardRecord

__all__ = ["DEFAULT_SHARD_TTL_S", "ShardClaims", "ShardLost", "holder_gone"]

log = logging.getLogger("batchport.runner")

DEFAULT_SHARD_TTL_S = 60.0

#: the owners of this process's drivers that are still running (shard claims and run
#: leases alike): a lease of this process held by an owner not listed is left over
LIVE_OWNERS: set[str] = set()


class ShardLost(RunError):
    """Another driver took the shard over (this one's lease had expired); this one
    leaves the shard alone."""


def holder_gone(owner: str) -> bool:
    """True when ``owner`` (``host:pid:token``) is a driver of this host that no
    longer runs: its process is gone, or it is a stopped driver of this process."""
    try:
        host, pid_text, _ = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return owner not in LIVE_OWNERS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


class ShardClaims:
    """The shard leases one driver holds in ``store``."""

    def __init__(self, store: RunStore, *, ttl: float = DEFAULT_SHARD_TTL_S) -> None:
        if ttl <= 0:
            raise ValueError("a lease's time to live must be positive")
        self.store = store
        self.ttl = ttl
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{secrets.token_hex(4)}"
        self._held: set[tuple[str, str]] = set()
        LIVE_OWNERS.add(self.owner)

    def __repr__(self) -> str:
        return f"ShardClaims({self.owner!r}, held={len(self._held)})"

    @property
    def held(self) -> frozenset[tuple[str, str]]:
        return frozenset(self._held)

    def holds(self, run_id: str, shard_id: str) -> bool:
        return (run_id, shard_id) in self._held

    def claim(self, run_id: str, shard_id: str) -> bool:
        """Take the shard's lease: when it is free or expired, or its holder is gone."""
        key = (run_id, shard_id)
        now = time.time()
        took = self.store.claim_shard(*key, self.owner, now=now, expires=now + self.ttl)
        if not took:
            holder = self.store.get_shard(*key).lease_owner
            if holder is not None and holder_gone(holder):
                log.warning("shard %s/%s: taking over from %s, which is gone", *key, holder)
                took = self.store.claim_shard(
                    *key, self.owner, now=now, expires=now + self.ttl, replacing=holder
                )
        if took:
            self._held.add(key)
        return took

    def adopt(self, shard: ShardRecord) -> None:
        """Count a shard claimed with :meth:`RunStore.claim_next` as held."""
        self._held.add((shard.run_id, shard.shard_id))

    def confirm(self, run_id: str, shard_id: str) -> None:
        """Make sure the lease is still this driver's, and push its expiry out; raises
        :class:`ShardLost` when another driver has taken the shard over."""
        now = time.time()
        if not self.store.claim_shard(run_id, shard_id, self.owner, now=now,
                                      expires=now + self.ttl):  # fmt: skip
            self._held.discard((run_id, shard_id))
            raise ShardLost(f"shard {run_id}/{shard_id} was taken over by another driver")

    def release(self, run_id: str, shard_id: str) -> None:
        if (run_id, shard_id) in self._held:
            self._held.discard((run_id, shard_id))
            self.store.release_shard(run_id, shard_id, self.owner)

    def renew(self) -> set[tuple[str, str]]:
        """Renew every lease held; the ones found lost (taken over) are returned and
        forgotten."""
        if not self._held:
            return set()
        still = self.store.renew_shard_leases(self.owner, expires=time.time() + self.ttl)
        lost = self._held - still
        self._held -= lost
        return lost

    async def keep_alive(self, on_lost: Callable[[tuple[str, str]], None]) -> None:
        """Renew every ``ttl / 3`` seconds until cancelled; ``on_lost`` is told of
        each shard another driver took over."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                lost = self.renew()
            except Exception as exc:  # a database hiccup: try again at the next beat
                log.warning("could not renew shard leases: %s", exc)
                continue
            for key in lost:
                log.warning("shard %s/%s: lease lost to another driver", *key)
                on_lost(key)

    def close(self) -> None:
        """Give up every lease held (best effort) and stop counting as alive."""
        LIVE_OWNERS.discard(self.owner)
        for key in list(self._held):
            try:
                self.release(*key)
            except Exception as exc:  # the lease expires by itself
                log.debug("could not release shard %s/%s: %s", *key, exc)
                self._held.discard(key)
