"""``batchport webhooks serve``: receive signed batch webhooks and print each event.

With ``--store URL`` or ``--home DIR`` each accepted event also marks the shards
running its batch as woken in that run store (``RunStore.wake_job``): a run driven
with webhooks in any process (``batchport run --webhooks-from-store``, or
``bp.run(..., webhooks=WebhookOptions())``) polls that shard at once. An event for a
batch no shard knows is still answered 200, so the provider does not retry it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from batchport.cli.numbers import port as port_number
from batchport.errors import ConfigError

SECRET_ENV = "BATCHPORT_WEBHOOK_SECRET"


def register(subparsers: Any) -> None:
    group: argparse.ArgumentParser = subparsers.add_parser(
        "webhooks", help="receive signed batch webhooks from OpenAI and Gemini"
    )
    commands = group.add_subparsers(dest="webhooks_command", metavar="SUBCOMMAND")
    commands.required = True
    serve = commands.add_parser(
        "serve",
        help="verify webhook deliveries, print each batch event, wake shards in a store",
        description=(
            "Answer POSTs on PATH: verify the Standard Webhooks signature, refuse stale "
            "timestamps and replays, and print 'provider type batch-id' for each batch "
            "event. With --store or --home, also mark the shards running that batch as "
            "woken in the run store, so the runs driving them (with --webhooks-from-store) "
            "poll them at once. Runs until interrupted."
        ),
    )
    serve.add_argument("--port", type=port_number, required=True, help="port to listen on (0: any)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--secret",
        help=(
            f"the endpoint's whsec_... signing secret; prefer setting {SECRET_ENV}, "
            "since a flag is visible to other users in the process list"
        ),
    )
    serve.add_argument("--path", default="/webhooks", help="URL path (default: %(default)s)")
    serve.add_argument(
        "--tolerance",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how far a timestamp may be from this host's clock (default: %(default)g)",
    )
    _store_args(serve)
    serve.set_defaults(handler=_serve)


def _store_args(p: argparse.ArgumentParser) -> None:
    from batchport.cli.store_args import store_url

    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--home",
        default=None,
        metavar="DIR",
        help="wake shards in the SQLite run store in DIR (default: only print)",
    )
    group.add_argument(
        "--store",
        type=store_url,
        default=None,
        metavar="URL",
        help="wake shards in the PostgreSQL run store at URL (default: only print)",
    )


def _serve(args: argparse.Namespace) -> int:
    secret = args.secret or os.environ.get(SECRET_ENV, "")
    if not secret:
        raise ConfigError(f"no webhook secret: set {SECRET_ENV} (or pass --secret)")
    from batchport.webhooks import BatchEvent, make_app, store_waker

    def show(event: BatchEvent, woken: list[tuple[str, str]] | None = None) -> None:
        line = f"{event.provider} {event.type} {event.batch_id}"
        if woken is not None:
            line += " woke " + (", ".join(f"{r}/{s}" for r, s in woken) if woken else "nothing")
        print(line, flush=True)

    where = args.store if args.store is not None else args.home
    if where is None:
        app = make_app(secret, show, path=args.path, tolerance_s=args.tolerance)
        asyncio.run(_run(app, args.host, args.port, args.path))
        return 0
    from batchport.store import open_store

    store, _ = open_store(where)
    try:
        app = make_app(
            secret, store_waker(store, announce=show), path=args.path, tolerance_s=args.tolerance
        )
        asyncio.run(_run(app, args.host, args.port, args.path))
    finally:
        store.close()
    return 0


async def _run(app: Any, host: str, port: int, path: str) -> None:
    from batchport.webhooks import serving

    async with serving(app, host, port, path) as url:
        print(f"listening on {url}", flush=True)
        await asyncio.Event().wait()  # until Ctrl-C or SIGTERM


# -- `batchport run/wait/resume` with webhooks ----------------------------------------


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The flags that have a run act on webhooks (``run``, ``wait``, ``resume``)."""
    group = p.add_argument_group("webhooks (OpenAI and Gemini; see docs/webhooks.md)")
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--webhooks-port",
        type=port_number,
        default=None,
        metavar="PORT",
        help="receive batch webhooks on PORT while the run lasts (0: any free port); "
        "each event has its shard polled at once",
    )
    where.add_argument(
        "--webhooks-from-store",
        action="store_true",
        help="no receiver here: `batchport webhooks serve --store/--home` in another "
        "process records events in the run store, and the run watches it",
    )
    group.add_argument(
        "--webhooks-host", default="127.0.0.1", metavar="HOST", help="address to bind"
    )
    group.add_argument("--webhooks-path", default="/webhooks", metavar="PATH", help="URL path")
    group.add_argument(
        "--webhook-secret-env",
        default=SECRET_ENV,
        metavar="VAR",
        help="the environment variable holding the whsec_... signing secret "
        "(default: %(default)s); the secret itself is never a flag",
    )
    group.add_argument(
        "--poll-fallback",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with webhooks, poll each job this often anyway (default: 600)",
    )


def run_webhooks(args: argparse.Namespace) -> Any:
    """The run's :class:`~batchport.webhooks.WebhookOptions` from the flags, or None.

    Raises :class:`ConfigError` when a receiver is asked for and the secret's
    environment variable is unset (the message names the variable, never a value).
    """
    receive = args.webhooks_port is not None
    if not receive and not args.webhooks_from_store:
        if args.poll_fallback is not None:
            raise ConfigError("--poll-fallback goes with --webhooks-port or --webhooks-from-store")
        return None
    from batchport.webhooks import WebhookOptions
    from batchport.webhooks.options import DEFAULT_POLL_FALLBACK_S

    secret = None
    if receive:
        secret = os.environ.get(args.webhook_secret_env, "")
        if not secret:
            raise ConfigError(
                f"--webhooks-port needs the webhook signing secret in ${args.webhook_secret_env}"
            )
    fallback = DEFAULT_POLL_FALLBACK_S if args.poll_fallback is None else args.poll_fallback
    return WebhookOptions(
        secret=secret,
        host=args.webhooks_host,
        port=args.webhooks_port or 0,
        path=args.webhooks_path,
        poll_fallback_s=fallback,
        on_listening=lambda url: print(f"receiving webhooks at {url}", file=sys.stderr),
    )
