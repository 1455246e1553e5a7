"""Command line for the emulator: ``python -m batchport_emulator`` and
``batchport emulator serve`` share :func:`add_arguments` and :func:`serve`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from batchport_emulator.config import EmulatorConfig, deep_merge

DEFAULT_PORT = 8089


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port to bind, 0 for any free one (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--profile",
        choices=("instant", "realistic"),
        default=None,
        help="timing profile (default instant)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="JSON or TOML config file (flags override it)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="keep files and batches here across restarts",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        default=None,
        metavar="KEY",
        help="accept only this key (repeatable; default: any non-empty key)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for shuffles and faults")
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="close connections idle or sending headers this long; 408 a stalled body (default 60)",
    )
    parser.add_argument(
        "--control-key",
        default=None,
        metavar="KEY",
        help="key the /_emulator control endpoints require (default: the --api-key keys)",
    )
    parser.add_argument(
        "--allow-plugins",
        action="store_true",
        default=None,
        help="let PATCH /_emulator/config name callables to import and servers to forward to",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=None,
        metavar="NAME",
        help="also answer requests whose Host/Origin is NAME (repeatable; '*' for any)",
    )
    parser.add_argument(
        "--webhook-url",
        action="append",
        default=None,
        metavar="URL",
        help="POST signed events to URL when a batch finishes (repeatable; loopback only "
        "unless the host is in webhooks.allowed_hosts)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=None,
        metavar="SECRET",
        help="sign webhook events with this whsec_... secret",
    )


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    """The config from ``--config`` with flags on top; raises ``ValueError`` when invalid."""
    data: dict[str, Any] = {}
    if args.config:
        data = EmulatorConfig.from_file(args.config).model_dump(exclude_unset=True)
    flags: dict[str, Any] = {"port": DEFAULT_PORT} if "port" not in data else {}
    for key in ("host", "port", "profile", "data_dir", "seed"):
        value = getattr(args, key)
        if value is not None:
            flags[key] = value
    if getattr(args, "read_timeout", None) is not None:
        flags["read_timeout_s"] = args.read_timeout
    if args.api_key:
        flags["api_keys"] = args.api_key
    if getattr(args, "control_key", None):
        flags["control_key"] = args.control_key
    if getattr(args, "allow_plugins", None):
        flags["allow_plugins"] = True
    if getattr(args, "allowed_host", None):
        flags["allowed_hosts"] = args.allowed_host
    hooks: dict[str, Any] = {}
    if getattr(args, "webhook_url", None):
        hooks["urls"] = args.webhook_url
    if getattr(args, "webhook_secret", None):
        hooks["secret"] = args.webhook_secret
    if hooks:
        flags["webhooks"] = hooks
    try:
        return EmulatorConfig.model_validate(deep_merge(data, flags))
    except ValidationError as exc:
        raise ValueError(f"invalid emulator settings: {exc}") from exc


async def _serve(config: EmulatorConfig) -> None:
    from batchport_emulator.server import Emulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Emulator(config) as emulator:
        print(f"batchport emulator listening on {emulator.url}", flush=True)
        print(f"OpenAI base URL: {emulator.base_url}", flush=True)
        print(f"Anthropic base URL: {emulator.url}", flush=True)
        print(f"Gemini base URL: {emulator.url}", flush=True)
        await stop.wait()


def serve(args: argparse.Namespace) -> int:
    """Run until interrupted; exit status 0, or 2 for bad settings, 3 if binding fails."""
    try:
        config = build_config(args)
    except ValueError as exc:
        print(f"batchport emulator: error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config))
    except OSError as exc:
        print(f"batchport emulator: error: cannot listen: {exc}", file=sys.stderr)
        return 3
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m batchport_emulator",
        description="A local server speaking the OpenAI Files and Batch APIs.",
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))
