"""The ``batchport`` command line.

Each command group lives in its own module under :mod:`batchport.cli` and exposes
``register(subparsers)``; a command's handler returns the process exit status.

Exit statuses: 0 success, 1 the input or the run had problems (validation errors,
partial failure), 2 usage error, 3 an error that stopped the command (a provider's
refusal, a bad path, a full disk...), 4 an internal error (a bug: please report it with
the output of ``-vv``), 130 interrupted by Ctrl-C and 143 by SIGTERM (a run stopped so
can be resumed), 141 when the reader of standard output went away (``| head``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence

from batchport.errors import BatchportError
from batchport.logs import redact_logs, redact_text

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INTERNAL = 4
#: standard output's reader went away (128 + SIGPIPE, as a shell reports it)
EXIT_BROKEN_PIPE = 141

# Every command, the module that defines it and its line in --help, in --help's order.
# Only the module of the command being run is imported (a provider SDK, aiohttp or the
# runner costs most of a second to import); the others appear in --help from this table.
# tests/cli/test_commands.py checks it against what each module registers.
_COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate_cmd", "check a batch input file against a provider's rules"),
    "plan": ("run_cmd", "show the shards and cost a run would have; sends nothing"),
    "run": ("run_cmd", "run a batch file to the end and write the results"),
    "submit": ("run_cmd", "upload and create every shard, then return"),
    "wait": ("run_cmd", "wait for a submitted run and reconcile it"),
    "resume": ("run_cmd", "pick up a run where it stopped"),
    "cancel": ("run_cmd", "cancel every live shard of a run; finished rows are kept"),
    "status": ("run_cmd", "show a run's shards and outcomes"),
    "results": ("run_cmd", "write a run's results"),
    "forget": ("run_cmd", "remove a run from the store (its batches at the provider stay)"),
    "runs": ("run_cmd", "list runs in the store"),
    "worker": ("worker_cmd", "drive shards of every run in a shared store, beside other workers"),
    "pause": ("worker_cmd", "stop drivers from taking a run's shards (jobs at the provider go on)"),
    "unpause": ("worker_cmd", "let drivers take a paused run's shards again"),
    "store": ("store_cmd", "the run store: `store migrate` creates or upgrades its schema"),
    "emulator": ("emulator_cmd", "run the local OpenAI Files/Batch API emulator"),
    "webhooks": ("webhooks_cmd", "receive signed batch webhooks from OpenAI and Gemini"),
    "demo": ("demo_cmd", "build, validate and plan a small sentiment batch"),
    "bench": ("bench_cmd", "compare batch, sequential and concurrent throughput and cost"),
}

Handler = Callable[[argparse.Namespace], int]


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``batchport`` parser, with the full sub-parsers of ``commands`` (of every
    command when None); any other command is a bare entry that only shows in --help."""
    parser = argparse.ArgumentParser(
        prog="batchport",
        description="Run LLM batch jobs on OpenAI, Azure OpenAI, Anthropic, Gemini or a local "
        "emulator.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    wanted = None if commands is None else {_COMMANDS[c][0] for c in commands if c in _COMMANDS}
    for module in dict.fromkeys(module for module, _ in _COMMANDS.values()):
        if wanted is None or module in wanted:
            importlib.import_module(f"batchport.cli.{module}").register(sub)
        else:
            for name, (owner, helptext) in _COMMANDS.items():
                if owner == module:
                    sub.add_parser(name, help=helptext)
    return parser


_terminated = threading.Event()


def _on_sigterm(signum: int, frame: object) -> None:
    # Stop exactly as on Ctrl-C: asyncio's own SIGINT handling cancels the running
    # work cleanly (leases released, clients closed) and raises KeyboardInterrupt.
    _terminated.set()
    if callable(signal.getsignal(signal.SIGINT)):
        signal.raise_signal(signal.SIGINT)
        return
    # SIGINT is ignored (a job started with & from a script): raised, it would not stop
    # anything. KeyboardInterrupt is raised instead, by the event loop between two
    # callbacks when one runs (never inside a task's step), and asyncio.run then
    # cancels the work as on Ctrl-C.
    asyncio = sys.modules.get("asyncio")
    loop = asyncio.events._get_running_loop() if asyncio is not None else None
    if loop is None:
        raise KeyboardInterrupt
    loop.call_soon_threadsafe(_interrupt)


def _interrupt() -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    # the command is the first word that is not an option (no option before it takes a value)
    word = next((arg for arg in arguments if not arg.startswith("-")), None)
    parser = build_parser([word] if word else [])
    args = parser.parse_args(arguments)
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
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a path that cannot be written, a full disk
        print(f"batchport: error: {_redacted(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        run_id = getattr(args, "run_id", None)
        hint = f"; `batchport resume {run_id}` goes on from here" if run_id else ""
        print(f"batchport: interrupted{hint}", file=sys.stderr)
        return 143 if _terminated.is_set() else 130
    except Exception as exc:
        kind = type(exc)  # the store's database said no: a full disk, a server gone
        if kind.__name__ == "OperationalError" and kind.__module__.split(".")[0] in (
            "sqlite3",
            "psycopg",
        ):
            run_id = getattr(args, "run_id", None)
            hint = f": `batchport resume {run_id}` goes on from there" if run_id else ""
            print(f"batchport: error: the run store failed ({_redacted(exc)}); every step "
                  f"before it was committed{hint}", file=sys.stderr)  # fmt: skip
            return EXIT_ERROR
        # a bug: one line, and the traceback only when asked for
        logging.getLogger("batchport").debug("internal error", exc_info=True)
        more = "" if args.verbose >= 2 else " (run again with -vv for the traceback)"
        print(f"batchport: internal error: {_redacted(exc)}{more}", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        _restore_sigterm(previous)


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so flushing it at exit finds no closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


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
