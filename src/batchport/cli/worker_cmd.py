"""``batchport worker``, ``pause`` and ``unpause``: several processes sharing runs.

``worker`` drives shards of every run in the store (see
:mod:`batchport.runner.worker`) until interrupted, reconnecting when the database goes
away; SIGTERM and SIGINT stop it after giving its leases up, so another worker takes
its shards at once. ``pause`` keeps every
driver from taking a run's shards; ``unpause`` lets them again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from batchport.cli import EXIT_OK
from batchport.cli.numbers import count, seconds, some_seconds
from batchport.cli.store_args import add_store_args, chosen_store
from batchport.errors import RunError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "worker",
        help="drive shards of every run in a shared store, beside other workers",
        description=(
            "Claim shards of any running run in the store, one at a time, and drive them "
            "to the end (submit, poll, collect, retry), holding a lease on each that is "
            "renewed while the worker lives. Start as many as you like, on any hosts that "
            "reach the store; each needs the credentials of the backends its runs use. "
            "Stops on SIGTERM or SIGINT, giving its leases up."
        ),
    )
    add_store_args(p)
    p.add_argument("--concurrency", type=count, default=4, help="shards driven at once (default 4)")
    p.add_argument(
        "--lease-ttl",
        type=some_seconds,
        default=60.0,
        metavar="SECONDS",
        help="a lease not renewed for this long is free to other workers (default 60)",
    )
    p.add_argument(
        "--poll",
        type=some_seconds,
        default=2.0,
        metavar="SECONDS",
        help="how often to look for new work when idle (default 2)",
    )
    p.add_argument(
        "--exit-when-idle",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="stop once there has been nothing to claim for SECONDS (for cron and jobs)",
    )
    p.add_argument(
        "--webhooks-from-store",
        action="store_true",
        help="poll a job at once when `batchport webhooks serve --store` records its event, "
        "else every --poll-fallback seconds",
    )
    p.add_argument(
        "--poll-fallback",
        type=some_seconds,
        default=None,
        metavar="SECONDS",
        help="with --webhooks-from-store, poll each job this often anyway (default 600)",
    )
    p.set_defaults(handler=_worker)

    for name, helptext in (
        ("pause", "stop drivers from taking a run's shards (jobs at the provider go on)"),
        ("unpause", "let drivers take a paused run's shards again"),
    ):
        p = subparsers.add_parser(name, help=helptext)
        p.add_argument("run_id", metavar="RUN")
        add_store_args(p)
        p.set_defaults(handler=_pause if name == "pause" else _unpause)


def _worker(args: argparse.Namespace) -> int:
    from batchport.runner.worker import WorkerStats, serve

    stats = WorkerStats()
    webhooks = None
    if args.webhooks_from_store:
        from batchport.webhooks import WebhookOptions
        from batchport.webhooks.options import DEFAULT_POLL_FALLBACK_S

        fallback = args.poll_fallback or DEFAULT_POLL_FALLBACK_S
        webhooks = WebhookOptions(poll_fallback_s=fallback)
    elif args.poll_fallback is not None:
        raise RunError("--poll-fallback goes with --webhooks-from-store")

    async def main() -> None:
        task = asyncio.ensure_future(
            serve(
                chosen_store(args),
                stats=stats,
                concurrency=args.concurrency,
                lease_ttl_s=args.lease_ttl,
                poll_s=args.poll,
                idle_exit_s=args.exit_when_idle,
                webhooks=webhooks,
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    print(
        f"worker done: {stats.shards} shard(s) driven, {stats.runs_finished} run(s) "
        f"finished, {stats.left} left at a pause, {stats.lost} handed on"
    )
    return EXIT_OK


def _set_pause(args: argparse.Namespace, on: bool) -> int:
    from batchport.runner.worker import pause, unpause
    from batchport.store import open_store

    store, _ = open_store(chosen_store(args))
    with contextlib.closing(store):
        if store.find_run(args.run_id) is None:
            raise RunError(f"no run {args.run_id!r} in {store.location}")
        (pause if on else unpause)(store, args.run_id)
    print(f"run {args.run_id} {'paused' if on else 'unpaused'}")
    return EXIT_OK


def _pause(args: argparse.Namespace) -> int:
    return _set_pause(args, True)


def _unpause(args: argparse.Namespace) -> int:
    return _set_pause(args, False)
