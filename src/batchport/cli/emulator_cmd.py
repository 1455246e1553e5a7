"""``batchport emulator serve``: run the local OpenAI-compatible emulator.

The options and behaviour are the emulator package's own (shared with
``python -m batchport_emulator``); this module only mounts them.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from batchport_emulator.cli import add_arguments, serve

    group: argparse.ArgumentParser = subparsers.add_parser(
        "emulator", help="run the local OpenAI Files/Batch API emulator"
    )
    commands = group.add_subparsers(dest="emulator_command", metavar="SUBCOMMAND")
    commands.required = True
    serve_parser = commands.add_parser(
        "serve", help="serve the emulator until interrupted (prints its base URL)"
    )
    add_arguments(serve_parser)
    serve_parser.set_defaults(handler=serve)
