"""A run that kills its own process (SIGKILL) at a chosen phase.

Used by the crash tests: ``python -m tests.durability.crashchild URL HOME RUN_ID PHASE``.
Phases: upload_commit (after an upload, before its id is recorded), before_create,
create_commit (after a batch is created, before its id is recorded), polling, download
(after the first chunk of results), reconcile (inside the ledger transaction, after the
rows are written and before the commit), prepare (while the shards and the ledger are
being written, before anything is sent), none.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.files import FileRef
from batchport.backends.models import Job, ShardSpec
from batchport.requests import Request
from batchport.runner import PollPolicy, RunOptions
from batchport.store import Store

ROWS = 30
SHARD_ROWS = 10


def requests() -> list[Request]:
    return [
        Request(
            custom_id=f"c{i:03d}",
            url="/v1/chat/completions",
            body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"row {i}"}]},
        )
        for i in range(ROWS)
    ]


def options() -> RunOptions:
    return RunOptions(
        max_rows_per_shard=SHARD_ROWS,
        max_concurrent_shards=2,
        poll=PollPolicy(interval=0.02, max_interval=0.05),
    )


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingBackend(EmulatorBackend):
    def __init__(self, url: str, phase: str) -> None:
        super().__init__(url=url)
        self.phase = phase

    async def upload_file(self, spec: ShardSpec) -> FileRef:
        ref = await super().upload_file(spec)
        if self.phase == "upload_commit":
            die()
        return ref

    async def create_batch(self, spec: ShardSpec, file_id: str) -> Job:
        if self.phase == "before_create":
            die()
        job = await super().create_batch(spec, file_id)
        if self.phase == "create_commit":
            die()
        return job

    async def retrieve_batch(self, batch_id: str) -> Job:
        if self.phase == "polling":  # the first retrieve is always a poll
            die()
        return await super().retrieve_batch(batch_id)

    async def stream_file(self, file_id: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        async for chunk in super().stream_file(file_id):
            yield chunk
            if self.phase == "download":
                die()


def main() -> None:
    url, home, run_id, phase = sys.argv[1:5]
    if phase == "reconcile":
        real = Store.settle_rows

        def settle_then_die(self: Store, run: str, updates: Any) -> int:
            n = real(self, run, updates)
            die()
            return n

        Store.settle_rows = settle_then_die  # type: ignore[method-assign]
    if phase == "prepare":
        real_add = Store.add_rows

        def add_then_die(self: Store, run: str, rows: Any) -> None:
            real_add(self, run, rows)  # written inside the preparation, never committed
            die()

        Store.add_rows = add_then_die  # type: ignore[method-assign]
    backend = CrashingBackend(url, phase)
    run = asyncio.run(
        bp.run(
            requests(),
            backend=backend,
            home=home,
            run_id=run_id,
            options=options(),
            progress=False,
        )
    )
    print(run.summary())


if __name__ == "__main__":
    main()
