"""Run commands: ``plan``, ``run``, ``submit``, ``status``, ``wait``, ``resume``,
``results``, ``cancel`` and ``runs``.

``run`` prints the run id before anything is submitted, so an interrupted run can be
picked up with ``batchport resume RUN``; ``submit`` prints the id again as the last
line of standard output, for scripts. Every command but ``plan`` works on the store
that ``--store URL`` or ``--home DIR`` names (see :mod:`batchport.cli.store_args`).
Exit status: 0 every row succeeded, 1 the run finished but some rows did not
succeed, 3 an error stopped the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchport.cli import EXIT_OK, EXIT_PROBLEMS
from batchport.cli.numbers import count, money, seconds, some_seconds
from batchport.cli.store_args import add_store_args, chosen_store
from batchport.cli.webhooks_cmd import add_run_args as add_webhook_args
from batchport.cli.webhooks_cmd import run_webhooks
from batchport.errors import RunError

if TYPE_CHECKING:
    from batchport.backends.base import Backend
    from batchport.runner import Run, RunOptions

# The backends, the runner and the store are imported by the handlers that use them:
# parsing the command line (and `--help`) stays quick.

__all__ = ["register"]


def _backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        default=None,
        help="openai, azure, anthropic, gemini or emulator (default: $BATCHPORT_BACKEND, "
        "then emulator)",
    )
    p.add_argument(
        "--emulator-url", default=None, metavar="URL", help="use a running emulator at URL"
    )
    p.add_argument(
        "--deployment",
        action="append",
        default=[],
        metavar="MODEL=DEPLOYMENT",
        help="azure: send MODEL's requests to DEPLOYMENT (repeatable; or set "
        "AZURE_OPENAI_DEPLOYMENTS='model=deployment,...')",
    )
    p.add_argument(
        "--model-map",
        action="append",
        default=[],
        metavar="MODEL=PROVIDER_MODEL",
        help="anthropic, gemini: run requests for MODEL (an OpenAI name) on PROVIDER_MODEL "
        "(repeatable), e.g. gpt-4o-mini=claude-haiku-4-5",
    )
    add_store_args(p)


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-attempts", type=count, default=3, metavar="N", help="submissions per row (default 3)"
    )
    p.add_argument(
        "--max-cost",
        type=money,
        default=None,
        metavar="USD",
        help="refuse runs estimated above this",
    )
    p.add_argument(
        "--concurrency", type=count, default=4, metavar="N", help="shards in flight at once"
    )
    p.add_argument(
        "--poll-interval", type=some_seconds, default=5.0, metavar="S", help="first poll interval"
    )
    p.add_argument("--max-rows", type=count, default=None, metavar="N", help="rows per shard cap")
    p.add_argument(
        "--max-tokens", type=count, default=None, metavar="N", help="estimated tokens per shard cap"
    )
    p.add_argument("--on-stall", choices=("wait", "cancel"), default="wait")
    p.add_argument("--cleanup", action="store_true", help="delete provider files once downloaded")
    p.add_argument(
        "--deadline",
        default=None,
        metavar="WHEN",
        help="finish by then ('2h', '90m', or an ISO time): shards that cannot make it in "
        "batch are cancelled and their unfinished rows served realtime",
    )
    p.add_argument(
        "--fallback",
        choices=("realtime", "flex"),
        default="realtime",
        help="the deadline's route (flex: OpenAI's flex tier where the model has it)",
    )
    p.add_argument("--realtime-rpm", type=count, default=None, metavar="N", help="fallback RPM")
    p.add_argument("--realtime-tpm", type=count, default=None, metavar="N", help="fallback TPM")
    p.add_argument(
        "--realtime-concurrency", type=count, default=16, metavar="N", help="fallback workers"
    )
    p.add_argument(
        "--reconnect-s",
        type=seconds,
        default=300.0,
        metavar="S",
        help="with a postgresql:// store: how long to keep opening it again after its "
        "connection drops before stopping (default 300)",
    )


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o", "--output", default=None, metavar="FILE", help="write results here ('-': stdout)"
    )
    p.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default=None,
        help="default: from the file's extension (.csv), else jsonl",
    )


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plan", help="show the shards and cost a run would have; sends nothing"
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--provider", default=None, help="openai or azure (default: the backend's)")
    p.add_argument("--backend", default=None)
    p.add_argument("--max-rows", type=count, default=None)
    p.add_argument("--max-tokens", type=count, default=None)
    p.set_defaults(handler=_plan)

    for name, helptext, handler in (
        ("run", "run a batch file to the end and write the results", _run),
        ("submit", "upload and create every shard, then return", _submit),
    ):
        p = subparsers.add_parser(name, help=helptext)
        p.add_argument("file", metavar="FILE")
        p.add_argument("--run-id", default=None, help="choose the run id (default: generated)")
        p.add_argument("--no-progress", action="store_true", help="no live display")
        _lock_args(p)
        _backend_args(p)
        _run_args(p)
        if name == "run":
            _output_args(p)
            add_webhook_args(p)
        else:
            p.add_argument(
                "--enqueue",
                action="store_true",
                help="record the planned run and return without sending anything: the "
                "workers sharing the store (`batchport worker`) submit and drive it",
            )
        p.set_defaults(handler=handler)

    for name, helptext, handler in (
        ("wait", "wait for a submitted run and reconcile it", _resume),
        ("resume", "pick up a run where it stopped", _resume),
        ("cancel", "cancel every live shard of a run; finished rows are kept", _cancel),
    ):
        p = subparsers.add_parser(name, help=helptext)
        p.add_argument("run_id", metavar="RUN")
        p.add_argument("--no-progress", action="store_true")
        _backend_args(p)
        if name != "cancel":
            _lock_args(p)
            _output_args(p)
            add_webhook_args(p)
        p.set_defaults(handler=handler)

    p = subparsers.add_parser("status", help="show a run's shards and outcomes")
    p.add_argument("run_id", metavar="RUN")
    add_store_args(p)
    p.set_defaults(handler=_status)

    p = subparsers.add_parser("results", help="write a run's results")
    p.add_argument("run_id", metavar="RUN")
    add_store_args(p)
    _output_args(p)
    p.set_defaults(handler=_results)

    p = subparsers.add_parser(
        "forget", help="remove a run from the store (its batches at the provider stay)"
    )
    p.add_argument("run_id", metavar="RUN")
    add_store_args(p)
    p.add_argument(
        "--force", action="store_true", help="also a run that is not finished (see help)"
    )
    p.set_defaults(handler=_forget)

    p = subparsers.add_parser("runs", help="list runs in the store")
    add_store_args(p)
    p.set_defaults(handler=_runs)


def _backend(args: argparse.Namespace) -> str | Backend | None:
    from batchport.backends import get_backend

    name = (args.backend or "").strip().lower()
    deployments = _pairs("--deployment", getattr(args, "deployment", []), "MODEL=DEPLOYMENT")
    models = _pairs("--model-map", getattr(args, "model_map", []), "MODEL=PROVIDER_MODEL")
    if args.emulator_url:
        if name in _MAPPED:  # the emulator's Anthropic or Gemini dialect, at the server root
            return get_backend(name, base_url=args.emulator_url, models=models or None)
        if name not in ("", "emulator"):
            raise RunError(
                f"--emulator-url speaks the OpenAI dialect and cannot go with --backend {name}; "
                "for the emulator's Azure dialect use --backend azure with "
                "AZURE_OPENAI_ENDPOINT=URL"
            )
        from batchport.backends.emulator import EmulatorBackend

        return EmulatorBackend(url=args.emulator_url)
    if deployments:
        if name != "azure":
            raise RunError("--deployment goes with --backend azure")
        return get_backend("azure", deployments=deployments)
    if models:
        if name not in _MAPPED:
            raise RunError("--model-map goes with --backend anthropic or --backend gemini")
        return get_backend(name, models=models)
    return name or None


_MAPPED = ("anthropic", "gemini")  # backends that run OpenAI-shaped requests on other models


def _pairs(flag: str, items: list[str], form: str) -> dict[str, str]:
    from batchport.backends._env import pairs

    return pairs(items, flag, form)


def _check_output(args: argparse.Namespace) -> None:
    """A results path that cannot be written fails before anything is submitted."""
    output = getattr(args, "output", None)
    if not output:
        return
    if output == "-":
        return
    target = Path(output).expanduser().resolve()
    parent = target.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise RunError(f"cannot write results to {output}: {parent} is not a writable folder")
    given = getattr(args, "file", None)
    if given is not None and target == Path(given).expanduser().resolve():
        raise RunError(
            f"cannot write results to {output}: it is the input file; choose another path"
        )
    home = _sqlite_home(args)
    if home is not None and (
        (target.parent == home and target.name.startswith(_STORE_FILE))
        or home / "runs" in target.parents
    ):
        raise RunError(
            f"cannot write results to {output}: it is a file of the run store in {home}; "
            "choose a path outside it"
        )


#: the SQLite store's database file (and its -wal, -shm and -journal beside it)
_STORE_FILE = "batchport.sqlite3"


def _sqlite_home(args: argparse.Namespace) -> Path | None:
    """The SQLite store's folder the command works on; None for a PostgreSQL store."""
    from batchport.store.base import default_home

    store = chosen_store(args) or os.environ.get("BATCHPORT_STORE") or None
    if store is not None and "://" in store:
        return None
    return (Path(store) if store else default_home()).expanduser().resolve()


def _options(args: argparse.Namespace) -> RunOptions:
    from batchport.runner import RunOptions
    from batchport.runner.policy import PollPolicy

    return RunOptions(
        max_attempts=args.max_attempts,
        max_concurrent_shards=args.concurrency,
        poll=PollPolicy(interval=args.poll_interval, max_interval=max(60.0, args.poll_interval)),
        on_stall=args.on_stall,
        max_rows_per_shard=args.max_rows,
        max_tokens_per_shard=args.max_tokens,
        max_cost=args.max_cost,
        cleanup=args.cleanup,
        deadline=args.deadline,
        fallback=args.fallback,
        realtime_rpm=args.realtime_rpm,
        realtime_tpm=args.realtime_tpm,
        realtime_concurrency=args.realtime_concurrency,
        reconnect_s=args.reconnect_s,
    )


def _drive(
    args: argparse.Namespace, call: Callable[[str | Backend | None], Coroutine[Any, Any, Run]]
) -> Run:
    """Run ``call(backend)`` on a fresh event loop, closing a backend made here."""
    from batchport.backends.base import Backend

    async def main() -> Run:
        backend = _backend(args)
        try:
            return await call(backend)
        finally:
            if isinstance(backend, Backend):
                await backend.aclose()

    return asyncio.run(main())


def _format(args: argparse.Namespace) -> str:
    chosen = getattr(args, "format", None)
    if chosen:
        return str(chosen)
    return "csv" if str(getattr(args, "output", "") or "").lower().endswith(".csv") else "jsonl"


def _finish(run_obj: Run, args: argparse.Namespace) -> int:
    """Write the results if asked, print the summary, and close the run's store."""
    with run_obj:
        return _report(run_obj, args)


def _report(run_obj: Run, args: argparse.Namespace) -> int:
    output = getattr(args, "output", None)
    if output:
        try:
            n = run_obj.write_results(output, _format(args))
        except BrokenPipeError:
            if output == "-":
                raise  # the reader went away (`| head`): not a failure to report
            raise RunError(f"cannot write results to {output} (its reader went away)") from None
        except OSError as exc:
            raise RunError(
                f"cannot write results to {output} ({exc.strerror or exc}); they are kept: "
                f"`batchport results {run_obj.id} -o FILE` writes them again"
            ) from None
        print(f"wrote {n:,} results to {output}", file=sys.stderr)
    # with results on standard output, the summary goes to standard error
    print(run_obj.summary(), file=sys.stderr if output == "-" else sys.stdout)
    return EXIT_OK if run_obj.ok else EXIT_PROBLEMS


def _progress(args: argparse.Namespace) -> bool | None:
    return False if args.no_progress else None


def _plan(args: argparse.Namespace) -> int:
    from batchport.runner import RunOptions, plan

    opts = RunOptions(max_rows_per_shard=args.max_rows, max_tokens_per_shard=args.max_tokens)
    print(
        plan(Path(args.file), backend=args.backend, provider=args.provider, options=opts).render()
    )
    return EXIT_OK


def _lock_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wait-for-lock",
        type=seconds,
        nargs="?",
        const=24 * 3600.0,
        default=None,
        metavar="SECONDS",
        help="if another process drives the run, wait for it (up to SECONDS; default a day) "
        "instead of stopping",
    )


def _start(args: argparse.Namespace, *, submit_only: bool, enqueue: bool = False) -> Run:
    from batchport.backends import load_backend
    from batchport.runner import new_run_id, run
    from batchport.runner.api import check_run_id

    given = args.run_id
    # named if the run is interrupted; a bad id fails before it is announced
    run_id = args.run_id = check_run_id(given) if given is not None else new_run_id()
    if args.backend and not args.emulator_url:
        load_backend(args.backend)  # a mistyped name fails before a run id is announced
    _check_output(args)
    webhooks = run_webhooks(args) if not submit_only else None
    options = _options(args)  # a bad option fails before a run id is announced
    print(f"run id: {run_id}", file=sys.stderr, flush=True)
    return _drive(
        args,
        lambda backend: run(
            Path(args.file),
            backend=backend,
            run_id=run_id,
            store=args.store,
            home=args.home,
            options=options,
            progress=_progress(args),
            submit_only=submit_only,
            enqueue=enqueue,
            wait_for_lock=args.wait_for_lock,
            webhooks=webhooks,
        ),
    )


def _run(args: argparse.Namespace) -> int:
    return _finish(_start(args, submit_only=False), args)


def _submit(args: argparse.Namespace) -> int:
    name = args.backend or os.environ.get("BATCHPORT_BACKEND", "").strip() or "emulator"
    if not args.emulator_url and name.lower() == "emulator":
        raise RunError(
            "submit returns at once, but an embedded emulator ends with this process: "
            "serve one (`batchport emulator serve --data-dir DIR`) and pass "
            "--emulator-url URL, or use `batchport run`"
        )
    with _start(args, submit_only=True, enqueue=args.enqueue) as r:
        shards = len(r.store.shards(r.id))
    where = " --store URL" if args.store else ""  # the URL may hold a password: not repeated
    if args.enqueue:
        print(f"enqueued {shards} shard(s); `batchport worker{where}` drives them")
    else:
        print(f"submitted {shards} shard(s); `batchport wait {r.id}{where}` collects them")
    print(r.id)  # last on its own line, for scripts: RUN=$(batchport submit ... | tail -n 1)
    return EXIT_OK


def _resume(args: argparse.Namespace) -> int:
    from batchport.runner import resume

    _check_output(args)
    webhooks = run_webhooks(args)
    r = _drive(
        args,
        lambda backend: resume(
            args.run_id,
            backend=backend,
            store=args.store,
            home=args.home,
            progress=_progress(args),
            wait_for_lock=args.wait_for_lock,
            webhooks=webhooks,
        ),
    )
    return _finish(r, args)


def _cancel(args: argparse.Namespace) -> int:
    from batchport.runner import cancel

    r = _drive(
        args,
        lambda backend: cancel(
            args.run_id,
            backend=backend,
            store=args.store,
            home=args.home,
            progress=_progress(args),
        ),
    )
    with r:
        print(r.summary())
    return EXIT_OK


def _open(args: argparse.Namespace) -> Run:
    from batchport.runner import open_run

    return open_run(args.run_id, store=args.store, home=args.home)


def _status(args: argparse.Namespace) -> int:
    with _open(args) as r:
        _print_status(r)
    return EXIT_OK


def _print_status(r: Run) -> None:
    rec = r.store.get_run(r.id)
    paused = ", paused" if rec.paused_at is not None else ""
    print(f"run {r.id}: {rec.state}{paused} ({rec.backend}, {rec.total_rows:,} rows)")
    if rec.error:
        print(f"last error: {rec.error}")
    from batchport.runner.deadline import ROUTE_KEY

    now = time.time()
    for s in r.store.shards(r.id):
        # a deadline's fallback has no job: it names its route instead
        job = s.job_id or (
            f"({s.staged()[ROUTE_KEY]} fallback)" if ROUTE_KEY in s.staged() else "-"
        )
        print(
            f"  {s.shard_id:<10} {s.state:<11} {s.job_status or '-':<11} "
            f"{s.rows:>8,} rows  {job}{_holder(s, now)}"
        )
    print("outcomes: " + ", ".join(f"{k} {v:,}" for k, v in r.outcomes.items()))


def _holder(s: Any, now: float) -> str:
    """Who holds an unfinished shard's lease and since when; a lease that expired
    without a renewal is marked stale (its holder stopped; any driver may take it)."""
    if s.lease_owner is None or s.state in ("reconciled", "abandoned"):
        return ""
    since = time.strftime("%H:%M:%S", time.localtime(s.lease_since or now))
    stale = " STALE" if (s.lease_expires or 0.0) < now else ""
    return f"  held by {s.lease_owner} since {since}{stale}"


def _results(args: argparse.Namespace) -> int:
    if not args.output:
        raise RunError("give -o FILE to write results")
    _check_output(args)
    return _finish(_open(args), args)


def _forget(args: argparse.Namespace) -> int:
    from batchport.store import RunState, open_store

    store, _ = open_store(chosen_store(args))
    with contextlib.closing(store):
        rec = store.find_run(args.run_id)
        if rec is None:
            raise RunError(f"no run {args.run_id!r} in {store.location}")
        lease = store.get_lease(args.run_id)
        if lease is not None and lease.expires_at > time.time():
            raise RunError(f"run {args.run_id} is being driven by pid {lease.pid} on {lease.host}")
        if not RunState(rec.state).is_final and not args.force:
            raise RunError(
                f"run {args.run_id} is {rec.state}: forgetting it loses track of batches it may "
                "have at the provider (they still run and are billed). Cancel it first, or pass "
                "--force if its provider is gone (an embedded emulator that ended)"
            )
        store.delete_run(args.run_id)
    print(f"forgot run {args.run_id}")
    return EXIT_OK


def _runs(args: argparse.Namespace) -> int:
    from batchport.store import open_store

    store, _ = open_store(chosen_store(args))
    now = time.time()
    with contextlib.closing(store):
        leased: dict[str, list[Any]] = {}
        for s in store.leased_shards():
            leased.setdefault(s.run_id, []).append(s)
        for rec in store.list_runs():
            held = leased.get(rec.id, [])
            stale = sum(1 for s in held if (s.lease_expires or 0.0) < now)
            workers = {s.lease_owner for s in held if (s.lease_expires or 0.0) >= now}
            notes = []
            if rec.paused_at is not None:
                notes.append("paused")
            if workers:
                notes.append(f"{len(held) - stale} shard(s) held by {len(workers)} driver(s)")
            if stale:
                notes.append(f"{stale} stale lease(s)")
            tail = f"  [{'; '.join(notes)}]" if notes else ""
            print(f"{rec.id}  {rec.state:<10} {rec.backend:<9} {rec.total_rows:>10,} rows{tail}")
            for s in held:  # which driver holds which shard, and since when
                print(f"    {s.shard_id:<10} {s.state:<11}{_holder(s, now)}")
    return EXIT_OK
