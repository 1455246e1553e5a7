"""``batchport webhooks serve``: receive signed batch webhooks and print each event.

For now each accepted event is only printed (``provider type batch-id``, one line);
the runner does not act on them yet (docs/webhooks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

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
        help="verify webhook deliveries and print one line per batch event",
        description=(
            "Answer POSTs on PATH: verify the Standard Webhooks signature, refuse stale "
            "timestamps and replays, and print 'provider type batch-id' for each batch "
            "event. Runs until interrupted."
        ),
    )
    serve.add_argument("--port", type=int, required=True, help="port to listen on (0: any)")
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
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    secret = args.secret or os.environ.get(SECRET_ENV, "")
    if not secret:
        raise ConfigError(f"no webhook secret: set {SECRET_ENV} (or pass --secret)")
    from batchport.webhooks import BatchEvent, make_app

    def show(event: BatchEvent) -> None:
        print(f"{event.provider} {event.type} {event.batch_id}", flush=True)

    app = make_app(secret, show, path=args.path, tolerance_s=args.tolerance)
    asyncio.run(_run(app, args.host, args.port, args.path))
    return 0


async def _run(app: Any, host: str, port: int, path: str) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        print(f"listening on http://{host}:{bound}{path}", flush=True)
        await asyncio.Event().wait()  # until Ctrl-C or SIGTERM
    finally:
        await runner.cleanup()
