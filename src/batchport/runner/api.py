"""What users call: :func:`run`, :func:`resume`, :func:`plan`, :func:`cancel`.

The sync twins (:func:`run_sync` and friends) run the same coroutines through
:func:`batchport.sync.run_sync`; there is no second copy of the logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from batchport.backends import get_backend
from batchport.backends.base import Backend
from batchport.errors import ConfigError, InputError, RunError
from batchport.jsonl import read_requests
from batchport.limits import ProviderProfile, get_profile
from batchport.logs import redact_text, redact_url
from batchport.pricing import PriceTable
from batchport.requests import Request, as_requests
from batchport.runner.claims import ShardClaims
from batchport.runner.clock import Clock, SystemClock
from batchport.runner.deadline import parse_deadline, wall_now
from batchport.runner.engine import Engine, finish_run
from batchport.runner.fallback import check_fallback
from batchport.runner.lease import DEFAULT_TTL_S, LeaseLost, drive_with_lease
from batchport.runner.options import RunOptions
from batchport.runner.plan import Plan, ShardPlan, estimate_cost, plan_requests
from batchport.runner.prepare import prepare_run
from batchport.runner.progress import ProgressSink, choose_progress
from batchport.runner.run import Run
from batchport.runner.wake import wakeups_for
from batchport.store import (
    IllegalTransition,
    RunExists,
    RunRecord,
    RunState,
    RunStore,
    ShardState,
    StoreLike,
    connection_lost,
    open_store,
)

if TYPE_CHECKING:
    from batchport.webhooks import WebhookOptions

__all__ = ["new_run_id", "plan", "resume", "run"]

log = logging.getLogger("batchport.runner")

#: what :func:`run` and :func:`plan` take: requests (or request lines as dicts), a
#: :class:`~batchport.BatchBuilder`, or the path of a JSONL batch file
RequestsLike = Iterable[Request] | Iterable[dict[str, Any]] | str | os.PathLike[str]


def new_run_id() -> str:
    return time.strftime("run-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(3)


#: a run id names folders, files and tags at the provider: a letter or digit, then up
#: to 127 letters, digits, '.', '_' or '-'
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_run_id(run_id: str) -> str:
    """``run_id`` if a new run may take it.

    Raises:
        InputError: it holds other characters (a '/', a space...) or is too long.
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InputError(
            f"run id {run_id!r}: a run id is a letter or digit, then up to 127 letters, "
            "digits, '.', '_' or '-'",
            rule="run_id",
        )
    return run_id


def _requests(source: RequestsLike) -> Iterable[Request]:
    if isinstance(source, str | os.PathLike):
        return read_requests(source)
    return as_requests(source)


def _options(fields: Mapping[str, Any]) -> RunOptions:
    """:class:`RunOptions` from keywords; a wrong name is a :class:`ConfigError` that
    lists the right ones."""
    known = {f.name for f in dataclasses.fields(RunOptions)}
    wrong = sorted(set(fields) - known)
    if wrong:
        raise ConfigError(
            f"unknown run option(s) {', '.join(map(repr, wrong))}; "
            f"known options: {', '.join(sorted(known))}"
        )
    return RunOptions(**fields)


def _source_of(requests: RequestsLike) -> str | None:
    """The input file's absolute path, so a run stopped while preparing can be
    prepared again without being handed its input."""
    if isinstance(requests, str | os.PathLike):
        path = str(Path(requests).resolve())
        try:
            path.encode()
        except UnicodeEncodeError:  # a name that is no UTF-8: the store's text cannot hold it
            return None  # (preparing again then needs the input handed over)
        return path
    return None


def _check_readable(source: RequestsLike) -> None:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file() or not os.access(path, os.R_OK):
            why = "no such file" if not path.exists() else "not a readable file"
            raise InputError(why, path=str(path), rule="file_not_readable")


def _models(source: RequestsLike | None) -> Mapping[str, type] | None:
    models = getattr(source, "output_models", None)
    return models if isinstance(models, Mapping) else None


def _caveats(
    profile: ProviderProfile, shards: tuple[ShardPlan, ...], prices: PriceTable
) -> list[str]:
    notes = []
    if profile.model_is_deployment:
        notes.append(
            "Azure: body.model must name a GlobalBatch/DataZoneBatch deployment; "
            "map model names to deployments in the azure backend"
        )
        notes.append(
            "Azure: enqueued tokens per deployment are limited; shards over the quota wait "
            "and are resubmitted with backoff"
        )
    for model in sorted({s.model or "" for s in shards}):
        if model and prices.lookup(model) is None:
            notes.append(f"model {model!r} is not in the price table; its cost is not counted")
    return notes


def plan(
    requests: RequestsLike,
    *,
    backend: str | Backend | None = None,
    provider: str | None = None,
    options: RunOptions | None = None,
    prices: PriceTable | None = None,
    **option_fields: Any,
) -> Plan:
    """What a run would submit: shards, estimates, cost and caveats. Nothing is spent.
    Takes the same options as :func:`run` (a :class:`RunOptions` or its fields)."""
    opts = options or _options(option_fields)
    prices = prices or PriceTable.default()
    if provider is None:
        be = backend if isinstance(backend, Backend) else None
        provider = be.provider if be is not None else _provider_of(backend)
    profile = get_profile(provider)
    p = plan_requests(
        _requests(requests),
        profile,
        prices=prices,
        max_rows=opts.max_rows_per_shard,
        max_tokens=opts.max_tokens_per_shard,
        # as a run translates them: priced by the model the provider runs
        translate=_translator(backend) if isinstance(backend, Backend) else None,
        # and refused as a run refuses them, before anything is sent
        check=str(requests) if isinstance(requests, str | os.PathLike) else "<requests>",
        ids_mapped=isinstance(backend, Backend)
        and type(backend).provider_id is not Backend.provider_id,
    )
    return Plan(
        p.provider, p.shards, p.fingerprint, p.cost, tuple(_caveats(profile, p.shards, prices))
    )


def _provider_of(name: str | Backend | None) -> str:
    from batchport.backends import load_backend

    if isinstance(name, Backend):
        return name.provider
    spec = name or os.environ.get("BATCHPORT_BACKEND", "").strip() or "emulator"
    return str(getattr(load_backend(spec), "provider", "openai"))


def _spec(store: StoreLike, home: str | os.PathLike[str] | None) -> StoreLike:
    """What to open: ``store`` if given, else ``home`` (kept to open it again)."""
    return store if store is not None else home


def _store(store: StoreLike, home: str | os.PathLike[str] | None) -> tuple[RunStore, bool]:
    return open_store(_spec(store, home))


async def run(
    requests: RequestsLike,
    *,
    backend: str | Backend | None = None,
    run_id: str | None = None,
    store: StoreLike = None,
    home: str | os.PathLike[str] | None = None,
    options: RunOptions | None = None,
    clock: Clock | None = None,
    progress: bool | ProgressSink | None = None,
    prices: PriceTable | None = None,
    submit_only: bool = False,
    enqueue: bool = False,
    wait_for_lock: float | None = None,
    lease_ttl_s: float = DEFAULT_TTL_S,
    webhooks: WebhookOptions | None = None,
    **option_fields: Any,
) -> Run:
    """Run ``requests`` as batches and return the reconciled :class:`Run`.

    ``requests`` is a :class:`~batchport.BatchBuilder`, any iterable of
    :class:`~batchport.Request` or of request lines as dicts (``custom_id``, ``method``,
    ``url``, ``body``, as in a batch input file), or the path of a JSONL batch file.
    Options are a :class:`RunOptions` or its fields as keywords. ``store`` is a
    :class:`~batchport.store.RunStore`, a ``postgresql://`` URL of the shared store, or
    the home directory of the embedded SQLite store (``home=`` says the same; default
    ``BATCHPORT_STORE``, then ``BATCHPORT_HOME``). With ``run_id`` of an
    existing run this resumes it (the input must be the same). With ``submit_only`` it
    returns once every shard is submitted; :func:`resume` later waits for them. With
    ``enqueue`` it returns once the run is planned and recorded, sending nothing: the
    workers sharing the store (``batchport worker``) submit and drive its shards.

    One such call drives a run at a time: it holds the run's lease in the store (renewed
    every ``lease_ttl_s / 3`` seconds). Another process driving the same run this way
    makes this raise :class:`~batchport.runner.lease.RunBusy`, or wait up to
    ``wait_for_lock`` seconds for it. Shard by shard it also takes each shard's lease
    (same time to live), so a shard a worker sharing the store holds is left to it and
    waited for (:mod:`batchport.runner.claims`).

    ``webhooks`` (a :class:`~batchport.WebhookOptions`) has batch webhooks wake the
    shards: the run serves a receiver for its length (or watches the store for another
    process's), polls a job at once when an event names it, and otherwise only every
    ``poll_fallback_s`` seconds.

    ``deadline`` (``"2h"``, seconds, a timedelta or a datetime) makes the run finish by
    then: a shard whose batch cannot make it is cancelled at the latest safe moment and
    its unfinished rows are served through the realtime API (``fallback="flex"``: on
    OpenAI's flex tier where the model has it), within ``realtime_rpm`` /
    ``realtime_tpm`` / ``realtime_concurrency``; see :mod:`batchport.runner.deadline`.

    Raises:
        ValidationFailed: the input breaks the provider's rules (nothing is sent).
        RunError: the estimate exceeds ``max_cost``, the input changed since the run
            began, or another process drives the run (``RunBusy``).
        ConfigError: a deadline on a backend without a realtime route.
    """
    if option_fields.get("deadline") is not None:  # a duration counts from now, on clock
        when = wall_now(clock or SystemClock())
        option_fields["deadline"] = parse_deadline(option_fields["deadline"], now=when)
    opts = options or _options(option_fields)
    _check_readable(requests)  # before anything is recorded
    run_id = check_run_id(run_id) if run_id is not None else new_run_id()
    spec = _spec(store, home)
    st, owned_store = open_store(spec)
    lock = _LockOptions(wait_for_lock, lease_ttl_s)
    if st.find_run(run_id) is None:
        try:
            be = get_backend(backend)
        except BaseException:
            if owned_store:
                st.close()
            raise
        owned = not isinstance(backend, Backend)
        try:
            profile = get_profile(be.provider)
            await check_fallback(be, opts)
            try:
                st.create_run(
                    run_id,
                    backend=be.name,
                    provider=profile.name,
                    fingerprint="",
                    options=opts.to_json(),
                    backend_settings=orjson.dumps(_stored(be.settings())).decode(),
                    source=_source_of(requests),
                )
            except RunExists:  # another process made it just now: join it as a resume
                pass
            else:
                prices = prices or PriceTable.default()
                start = functools.partial(_start, run_id=run_id, be=be, profile=profile,
                                          requests=requests, opts=opts, prices=prices,
                                          clock=clock, progress=progress,
                                          submit_only=submit_only, enqueue=enqueue,
                                          lease_ttl=lock.ttl, webhooks=webhooks)  # fmt: skip
                # after a dropped connection: on from where the store says it stopped
                go_on = functools.partial(_continue, run_id=run_id, backend=be,
                                          requests=_again(requests), clock=clock,
                                          progress=progress,
                                          lease_ttl=lock.ttl, webhooks=webhooks,
                                          submit_only=submit_only,
                                          enqueue=enqueue)  # fmt: skip
                reopen = _Reopen(spec, owned_store, opts.reconnect_s, clock)
                st = await reopen.drive(st, run_id, start, go_on, lock)
                return Run(st, run_id, models=_models(requests), prices=prices,
                           owns_store=owned_store)  # fmt: skip
        except BaseException:
            if owned_store:
                st.close()
            raise
        finally:
            if owned:
                await be.aclose()
    return await _resume(st, owned_store, run_id, backend, requests, clock, progress, prices,
                         lock, webhooks, spec=spec)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class _LockOptions:
    wait_for_lock: float | None = None
    ttl: float = DEFAULT_TTL_S

    def kwargs(self) -> dict[str, Any]:
        return {"wait_for_lock": self.wait_for_lock, "ttl": self.ttl}


def _again(requests: RequestsLike | None) -> RequestsLike | None:
    """``requests`` to read once more after a dropped connection: None for a one-shot
    iterator (a generator, partly read already), so that a run still being prepared
    stops and asks for its requests again instead of running what was left of them."""
    return None if isinstance(requests, Iterator) else requests


#: backoff between attempts to open a store whose connection dropped (seconds)
_REOPEN_FIRST_S, _REOPEN_MAX_S = 1.0, 30.0
#: a drive that went on this long (seconds) after a reconnect ends that outage: a later
#: drop starts a new one, with the whole ``reconnect_s`` again
_RECOVERED_S = 60.0

Work = Callable[..., Awaitable[None]]


@dataclasses.dataclass(slots=True)
class _Reopen:
    """How a call that opened its own store rides out a dropped PostgreSQL connection.

    Every step of a run is committed before the call it protects, and a shard left
    ``submitting`` is looked up at the provider before anything is sent again, so a
    failover costs the time it takes, never a row: the call opens the store again
    (backing off from 1 s to 30 s) and goes on from what the store says, for up to
    ``reconnect_s`` seconds of outage. A store passed in as an object is the caller's
    to reconnect; its errors go to the caller as they are.
    """

    spec: StoreLike | os.PathLike[str]
    owned: bool
    reconnect_s: float
    clock: Clock | None

    async def drive(
        self, st: RunStore, run_id: str, work: Work, go_on: Work, lock: _LockOptions
    ) -> RunStore:
        """Await ``work(st)`` under the run's lease, then (after each reconnect)
        ``go_on(st)`` with the store opened again; returns the store the run ended on.
        A store opened here is closed here if the drive fails.

        Raises:
            RunError: the store could not be opened again within ``reconnect_s``.
        """
        clock = self.clock or SystemClock()
        original = st
        lost_at: float | None = None
        resumed_at = clock.now()
        delay = _REOPEN_FIRST_S
        try:
            while True:
                try:
                    await drive_with_lease(st, run_id, functools.partial(work, st),
                                           **lock.kwargs())  # fmt: skip
                    return st
                except Exception as exc:
                    if not (self.owned and connection_lost(exc)):
                        raise
                    problem = redact_text(str(exc)).strip() or type(exc).__name__
                with contextlib.suppress(Exception):
                    st.close()
                if lost_at is None or clock.now() - resumed_at >= _RECOVERED_S:
                    lost_at, delay = clock.now(), _REOPEN_FIRST_S  # a new outage
                while True:
                    waited = clock.now() - lost_at
                    if waited >= self.reconnect_s:
                        raise RunError(
                            f"run {run_id}: lost the run store's connection ({problem}) and "
                            f"could not open it again within {self.reconnect_s:.0f}s (the "
                            "reconnect_s option). Nothing is lost: every step so far is "
                            f"recorded; resume the run (bp.resume({run_id!r}) or "
                            f"`batchport resume {run_id}`) once the database is back"
                        ) from None
                    pause = min(delay, self.reconnect_s - waited)
                    what = "store connection lost" if waited == 0 else "store still unavailable"
                    log.warning("run %s: %s (%s); reconnecting in %.0fs",
                                run_id, what, problem, pause)  # fmt: skip
                    await clock.sleep(pause)
                    delay = min(delay * 2, _REOPEN_MAX_S)
                    try:
                        st, _ = open_store(self.spec)
                        break
                    except ConfigError as exc:  # the server cannot be reached (yet)
                        problem = redact_text(str(exc)).strip()
                log.warning("run %s: store reconnected; going on", run_id)
                resumed_at, work = clock.now(), go_on
        except BaseException:
            if st is not original:  # opened here (closing it twice is harmless)
                with contextlib.suppress(Exception):
                    st.close()
            raise


async def _start(
    st: RunStore,
    *,
    run_id: str,
    be: Backend,
    profile: ProviderProfile,
    requests: RequestsLike,
    opts: RunOptions,
    prices: PriceTable,
    clock: Clock | None,
    progress: bool | ProgressSink | None,
    submit_only: bool,
    enqueue: bool = False,
    lease_ttl: float = DEFAULT_TTL_S,
    webhooks: WebhookOptions | None = None,
) -> None:
    """Prepare a new run, check its cost, and drive it (under its lease), or leave it
    to the workers (``enqueue``)."""
    _prepare(st, run_id, be, profile, requests, opts, prices)
    st.update_run(run_id, expect=RunState.PLANNING, state=RunState.RUNNING)
    if enqueue:
        return
    until = ShardState.SUBMITTED if submit_only else None
    await _execute(st, run_id, be, opts, clock, progress, until=until, lease_ttl=lease_ttl,
                   webhooks=webhooks)  # fmt: skip


def _prepare(
    st: RunStore,
    run_id: str,
    be: Backend,
    profile: ProviderProfile,
    requests: RequestsLike,
    opts: RunOptions,
    prices: PriceTable,
) -> None:
    """Write the run's shards and ledger, all or nothing: a run in ``planning`` either
    has every shard recorded (and passed the cost cap) or none."""
    log.info("run %s: preparing", run_id)
    try:
        prepare_run(
            st,
            run_id,
            _requests(requests),
            profile,
            translate=_translator(be),
            ids_mapped=type(be).provider_id is not Backend.provider_id,
            max_rows=opts.max_rows_per_shard,
            max_tokens=opts.max_tokens_per_shard,
            label=str(requests) if isinstance(requests, str | os.PathLike) else "<requests>",
            accept=lambda shards: _check_cost(shards, opts, prices),
        )
    except InputError as exc:
        st.update_run(run_id, state=RunState.INVALID, error=str(exc)[:500])
        raise
    except OverBudget as exc:
        st.update_run(run_id, state=RunState.REFUSED, error=str(exc)[:500])
        raise


def _translator(backend: Backend) -> Callable[[Request], Request] | None:
    """The backend's request translation, or None when it keeps requests as they are."""
    if type(backend).prepare_request is Backend.prepare_request:
        return None
    return backend.prepare_request


class OverBudget(RunError):
    """The estimate exceeds ``max_cost``: nothing was submitted."""


def _check_cost(shards: list[ShardPlan], opts: RunOptions, prices: PriceTable) -> None:
    if opts.max_cost is None:
        return
    est = estimate_cost(shards, prices)
    if not est.priced or est.batch_usd > opts.max_cost:
        what = _usd(est.batch_usd) if est.priced else "unknown (a model has no price)"
        raise OverBudget(
            f"estimated batch cost {what} exceeds max_cost {_usd(opts.max_cost)}; "
            "nothing was submitted"
        )


def _usd(amount: float) -> str:
    """Dollars with enough digits to be true of small amounts ($0.0031, not $0.00)."""
    return f"${amount:,.2f}" if amount >= 100 else f"${amount:,.6f}".rstrip("0").rstrip(".")


def _record_failure(store: RunStore, run_id: str, exc: BaseException) -> None:
    """Say what stopped the run: a running run becomes ``failed`` with the error; a
    cancelling one stays cancelling (resuming finishes the cancel)."""
    message = redact_text(str(exc))[:500] or type(exc).__name__
    if store.get_run(run_id).state == RunState.RUNNING:
        with contextlib.suppress(IllegalTransition):
            store.update_run(run_id, expect=RunState.RUNNING, state=RunState.FAILED, error=message)
            return
    store.update_run(run_id, error=message)


async def _execute(
    store: RunStore,
    run_id: str,
    backend: Backend,
    opts: RunOptions,
    clock: Clock | None,
    progress: bool | ProgressSink | None,
    *,
    until: ShardState | None = None,
    lease_ttl: float = DEFAULT_TTL_S,
    webhooks: WebhookOptions | None = None,
) -> None:
    sink = choose_progress(progress)
    counts = store.outcome_counts(run_id)
    settled = sum(v for k, v in counts.items() if k is not None)
    sink.start(run_id, store.get_run(run_id).total_rows, settled)
    clock = clock or SystemClock()
    wake = wakeups_for(store, run_id, clock, webhooks, backend)
    claims = ShardClaims(store, ttl=lease_ttl)
    engine = Engine(store, run_id, backend, opts, clock=clock, progress=sink, claims=claims,
                    wake=wake)  # fmt: skip
    if store.get_run(run_id).state == RunState.FAILED:  # resumed after an error
        store.update_run(run_id, expect=RunState.FAILED, state=RunState.RUNNING, error=None)
    try:
        if wake is not None:
            await wake.start()
        await engine.execute(until=until)
    except (KeyboardInterrupt, asyncio.CancelledError, LeaseLost):
        raise  # stopped, not failed: it goes on when resumed (or elsewhere)
    except BaseException as exc:
        if not connection_lost(exc):  # nothing can be recorded without the store
            _record_failure(store, run_id, exc)
        raise
    finally:
        sink.finish()
        claims.close()
        if wake is not None:
            await wake.aclose()
    if until is None:
        await finish_run(store, run_id)  # unless a worker sharing the run closed it first


async def resume(
    run_id: str,
    *,
    backend: str | Backend | None = None,
    store: StoreLike = None,
    home: str | os.PathLike[str] | None = None,
    requests: RequestsLike | None = None,
    clock: Clock | None = None,
    progress: bool | ProgressSink | None = None,
    prices: PriceTable | None = None,
    wait_for_lock: float | None = None,
    lease_ttl_s: float = DEFAULT_TTL_S,
    webhooks: WebhookOptions | None = None,
) -> Run:
    """Pick a run up where it stopped: submitted shards are polled, not submitted
    again; collected results are not fetched again; settled rows stay settled. A
    finished run is returned as it is, without a backend. ``webhooks``: as in
    :func:`run`.

    Raises:
        RunError: no such run, ``requests`` differ from the run's input, or another
            process drives the run (``RunBusy``; see ``wait_for_lock`` in :func:`run`).
    """
    spec = _spec(store, home)
    st, owned_store = open_store(spec)
    lock = _LockOptions(wait_for_lock, lease_ttl_s)
    return await _resume(st, owned_store, run_id, backend, requests, clock, progress, prices,
                         lock, webhooks, spec=spec)  # fmt: skip


async def _resume(
    st: RunStore,
    owned_store: bool,
    run_id: str,
    backend: str | Backend | None,
    requests: RequestsLike | None,
    clock: Clock | None,
    progress: bool | ProgressSink | None,
    prices: PriceTable | None,
    lock: _LockOptions | None = None,
    webhooks: WebhookOptions | None = None,
    *,
    spec: StoreLike | os.PathLike[str],
) -> Run:
    try:
        rec = st.find_run(run_id)
        if rec is None:
            raise RunError(f"no run {run_id!r} in {st.location}")
        if rec.state in (RunState.INVALID, RunState.REFUSED):
            raise RunError(f"run {run_id} was not started ({rec.state}: {rec.error})")
        if requests is not None and rec.state != RunState.PLANNING:
            _check_same_input(rec, requests)
        if rec.state not in (RunState.DONE, RunState.CANCELLED):
            lock = lock or _LockOptions()
            work = functools.partial(_continue, run_id=run_id, backend=backend,
                                     requests=requests, clock=clock, progress=progress,
                                     lease_ttl=lock.ttl, webhooks=webhooks)  # fmt: skip
            go_on = functools.partial(work, requests=_again(requests))
            reconnect_s = RunOptions.from_json(rec.options).reconnect_s
            st = await _Reopen(spec, owned_store, reconnect_s, clock).drive(
                st, run_id, work, go_on, lock
            )
    except BaseException:
        if owned_store:
            st.close()
        raise
    return Run(st, run_id, models=_models(requests), prices=prices, owns_store=owned_store)


def _backend_of(rec: RunRecord, backend: str | Backend | None) -> Backend:
    """The backend to go on with: the one given, else the run's own, rebuilt from the
    settings it recorded (a served emulator's URL, Azure's endpoint and deployments).
    A recorded URL kept none of its secrets: the environment gives them again when one
    of its variables holds that URL with them, as it gives the key."""
    if backend is not None:
        return get_backend(backend)
    settings = orjson.loads(rec.backend_settings or "{}")
    return get_backend(rec.backend, **{k: _from_env(v) for k, v in settings.items()})


def _stored(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A backend's settings as a run records them: every URL without its password or
    its credential parameters (``?api-key=...``), whatever the backend kept."""
    return {k: redact_url(v, drop=True) if isinstance(v, str) and "://" in v else v
            for k, v in settings.items()}  # fmt: skip


def _from_env(value: Any) -> Any:
    """A recorded URL as an environment variable holds it with its secrets, if one
    does; else ``value`` as recorded."""
    if not isinstance(value, str) or "://" not in value:
        return value
    for given in os.environ.values():
        given = given.strip()
        if given != value and "://" in given and redact_url(given, drop=True) == value:
            return given
    return value


def _check_same_input(rec: RunRecord, requests: RequestsLike) -> None:
    fp = plan_requests(_requests(requests), get_profile(rec.provider), prices=PriceTable({}))
    if fp.fingerprint != rec.fingerprint:
        raise RunError(
            f"the input differs from the one run {rec.id} started with; "
            "start a new run instead of resuming"
        )


async def _continue(
    st: RunStore,
    *,
    run_id: str,
    backend: str | Backend | None,
    requests: RequestsLike | None,
    clock: Clock | None,
    progress: bool | ProgressSink | None,
    lease_ttl: float = DEFAULT_TTL_S,
    webhooks: WebhookOptions | None = None,
    submit_only: bool = False,
    enqueue: bool = False,
) -> None:
    """Drive an unfinished run on (under its lease: its record is read afresh). A run
    stopped while preparing is prepared again, from ``requests`` or its input file.
    ``submit_only`` and ``enqueue``: stop where :func:`run` with them would."""
    rec = st.get_run(run_id)
    if rec.state in (RunState.DONE, RunState.CANCELLED):
        return
    be = _backend_of(rec, backend)
    owned = not isinstance(backend, Backend)
    opts = RunOptions.from_json(rec.options)
    try:
        if rec.state == RunState.PLANNING:
            if not st.shards(run_id):  # stopped before its shards were recorded
                source = requests if requests is not None else rec.source
                if source is None:
                    raise RunError(
                        f"run {run_id} stopped while preparing; nothing was sent. Hand it "
                        f"its requests again: bp.run(requests, run_id={run_id!r})"
                    )
                _prepare(st, run_id, be, get_profile(rec.provider), source, opts,
                         PriceTable.default())  # fmt: skip
            elif requests is not None:
                _check_same_input(rec, requests)
            st.update_run(run_id, expect=RunState.PLANNING, state=RunState.RUNNING)
        if enqueue:
            return
        until = ShardState.SUBMITTED if submit_only else None
        await _execute(st, run_id, be, opts, clock, progress, until=until, lease_ttl=lease_ttl,
                       webhooks=webhooks)  # fmt: skip
    finally:
        if owned:
            await be.aclose()
