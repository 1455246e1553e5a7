"""``batchport validate FILE``: report every problem a provider would find in a batch file.

Output is one ``FILE:LINE: code: message`` per problem (``FILE: code: message`` for the
whole file), then a summary line; ``--json`` prints the full report instead. Exit status
0 when clean, 1 when anything is wrong, 3 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

import orjson

from batchport.cli import EXIT_OK, EXIT_PROBLEMS
from batchport.limits import PROVIDERS
from batchport.validate import ValidationReport, validate_file

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``validate`` command to the ``batchport`` parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check a batch input file against a provider's rules",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="the JSONL batch input file")
    parser.add_argument(
        "--provider",
        choices=sorted(PROVIDERS),
        default="openai",
        help="whose rules and error codes to apply (default: openai)",
    )
    parser.add_argument(
        "--endpoint",
        default=None,
        help="the endpoint the batch will be created with (default: taken from the first line)",
    )
    parser.add_argument(
        "--as-provider-file",
        action="store_true",
        help="judge the file as one provider batch file (mixed models or endpoints, and "
        "more than one batch holds, are problems); by default it is judged as input to "
        "batchport, which splits it",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")
    parser.add_argument(
        "--max-problems",
        type=_positive_int,
        default=None,
        metavar="N",
        help="keep at most N problems (all are still counted)",
    )
    parser.set_defaults(handler=run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Validate ``args.file`` and print the result; returns the exit status.

    Raises:
        InputError: the file is missing or unreadable (the dispatcher prints it, exit 3).
    """
    stream = out if out is not None else sys.stdout
    report = validate_file(
        args.file,
        provider=args.provider,
        endpoint=args.endpoint,
        max_problems=args.max_problems,
        as_provider_file=args.as_provider_file,
    )
    if args.json:
        try:
            text = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode()
        except TypeError:  # a file name that is no UTF-8: escaped, as JSON allows
            text = json.dumps(report.to_dict(), indent=2)
        stream.write(text + "\n")
    else:
        _print_text(report, stream)
        if report.ok and not args.as_provider_file:  # say how batchport will split it
            from batchport.jsonl import read_requests
            from batchport.limits import get_profile
            from batchport.planning import plan_requests
            from batchport.pricing import PriceTable

            profile = get_profile(args.provider)
            split = plan_requests(read_requests(args.file), profile, prices=PriceTable.default())
            stream.write(
                f"batchport will send it as {len(split.shards)} batch(es), one per endpoint "
                "and model within the provider's limits (`batchport plan` shows them)\n"
            )
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _print_text(report: ValidationReport, stream: TextIO) -> None:
    for problem in report.problems:
        stream.write(f"{problem}\n")
    if report.truncated:
        hidden = report.problem_count - len(report.problems)
        stream.write(f"{report.path}: ... and {hidden:,} more problem(s) not shown\n")
    stream.write(report.summary() + "\n")
