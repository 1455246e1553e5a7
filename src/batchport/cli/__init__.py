"""The ``batchport`` command line.

Each command group lives in its own module under :mod:`batchport.cli` and exposes
``register(subparsers)``; a command's handler returns the process exit status.

Exit statuses: 0 success, 1 the input or the run had problems (validation errors,
partial failure), 2 usage error, 3 an error that stopped the command (a provider's
refusal, a bad path, a full disk...), 4 an internal error (a bug: please report it with
the output of ``-vv``), 130 interrupted by Ctrl-C and 143 by SIGTERM (a run stopped so
can be resumed).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from batchport.errors import BatchportError
from batchport.logs import redact_logs, redact_text

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INTERNAL = 4

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


_terminated = threading.Event()


def _on_sigterm(signum: int, frame: object) -> None:
    # Stop exactly as on Ctrl-C: asyncio's own SIGINT handling cancels the running
    # work cleanly (leases released, clients closed) and raises KeyboardInterrupt.
    _terminated.set()
    signal.raise_signal(signal.SIGINT)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    redact_logs()  # keys, tokens and URL passwords never reach the terminal
    handler: Handler = args.handler
    previous = _install_sigterm()
    try:
        return handler(args)
    except BatchportError as exc:
        # User mistakes and provider refusals get one clear line, never a traceback.
        print(f"batchport: error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # a path that cannot be written, a full disk
        print(f"batchport: error: {_redacted(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        run_id = getattr(args, "run_id", None)
        hint = f"; `batchport resume {run_id}` goes on from here" if run_id else ""
        print(f"batchport: interrupted{hint}", file=sys.stderr)
        return 143 if _terminated.is_set() else 130
    except Exception as exc:  # a bug: one line, and the traceback only when asked for
        logging.getLogger("batchport").debug("internal error", exc_info=True)
        more = "" if args.verbose >= 2 else " (run again with -vv for the traceback)"
        print(f"batchport: internal error: {_redacted(exc)}{more}", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        _restore_sigterm(previous)


def _redacted(exc: BaseException) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}")


def _install_sigterm() -> object:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


def _restore_sigterm(previous: object) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
