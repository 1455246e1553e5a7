"""The ``batchport`` command line.

Each command group lives in its own module under :mod:`batchport.cli` and exposes
``register(subparsers)``; a command's handler returns the process exit status.

Exit statuses: 0 success, 1 the input or the run had problems (validation errors,
partial failure), 2 usage error, 3 an error that stopped the command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from batchport.errors import BatchportError

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_ERROR = 3

# Modules that add sub-commands, in the order they appear in --help.
_COMMAND_MODULES: tuple[str, ...] = (
    "batchport.cli.validate_cmd",
    "batchport.cli.run_cmd",
    "batchport.cli.emulator_cmd",
    "batchport.cli.demo_cmd",
    "batchport.cli.bench_cmd",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchport",
        description="Run LLM batch jobs on OpenAI, Azure OpenAI or a local emulator.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    handler: Handler = args.handler
    try:
        return handler(args)
    except BatchportError as exc:
        # User mistakes and provider refusals get one clear line, never a traceback.
        print(f"batchport: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("batchport: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
