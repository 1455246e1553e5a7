"""A run as the store keeps it: :class:`Run` reads its state, outcomes, results,
usage and cost, and :func:`open_run` opens one offline (no backend, no credentials)."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from batchport.backends.models import Usage
from batchport.errors import RunError
from batchport.pricing import Cost, PriceTable
from batchport.runner.deadline import is_realtime
from batchport.runner.outcomes import Outcome
from batchport.runner.plan import price_model
from batchport.runner.results import RunResult, iter_results, write_results
from batchport.store import RunStore, StoreLike, open_store

__all__ = ["Route", "Run", "open_run"]


@dataclass(frozen=True, slots=True)
class Route:
    """The rows one route served (``batch``, ``realtime`` or ``flex``).

    ``cost_usd`` is what they cost at that route's price (batch and flex at the batch
    rate, realtime at the standard one; None when a model is unpriced) and
    ``batch_usd`` what the same tokens cost as a batch. ``first_at`` / ``last_at`` are
    when its first and last rows settled (unix seconds), ``span_s`` the time between.
    """

    name: str
    rows: int
    cost_usd: float | None
    batch_usd: float | None
    first_at: float | None
    last_at: float | None

    @property
    def span_s(self) -> float:
        if self.first_at is None or self.last_at is None:
            return 0.0
        return self.last_at - self.first_at

    @property
    def extra_usd(self) -> float | None:
        """What this route cost over waiting in batch for the same rows."""
        if self.cost_usd is None or self.batch_usd is None:
            return None
        return self.cost_usd - self.batch_usd


class Run:
    """A run in the store: its outcomes, results, usage and cost.

    Safe to read from any thread (a :func:`run_sync` result in a notebook, say). A run
    that opened its own store closes it in :meth:`close` (or when collected).
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        *,
        models: Mapping[str, type] | None = None,
        prices: PriceTable | None = None,
        owns_store: bool = False,
    ) -> None:
        self.store = store
        self.id = run_id
        self._models = models
        self._prices = prices or PriceTable.default()
        self._finalizer = weakref.finalize(self, store.close) if owns_store else None

    def close(self) -> None:
        """Close the store this run opened (a store passed in stays open)."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, state={self.state!r}, outcomes={self.outcomes})"

    @property
    def state(self) -> str:
        return self.store.get_run(self.id).state

    @property
    def total_rows(self) -> int:
        return self.store.get_run(self.id).total_rows

    @property
    def outcomes(self) -> dict[str, int]:
        """Rows per outcome (``"pending"`` for rows still in flight)."""
        return {
            (k or Outcome.PENDING.value): v
            for k, v in sorted(self.store.outcome_counts(self.id).items(), key=str)
        }

    @property
    def ok(self) -> bool:
        """True when every row succeeded."""
        return self.outcomes == {Outcome.SUCCEEDED.value: self.total_rows}

    @property
    def usage(self) -> Usage:
        return Usage(*self.store.usage_totals(self.id))

    @property
    def cost(self) -> Cost:
        """Cost of the tokens used, priced per shard model (batch and realtime): the
        provider's model where the price table knows it (a Claude model a chat request
        was mapped to), else the caller's (an Azure deployment's model)."""
        total = Cost()
        usage = self.store.usage_by_model(self.id)
        for (caller, provider), (inp, out, cached, written) in usage.items():
            total = total + self._prices.cost(
                price_model(caller, provider, self._prices),
                input_tokens=inp,
                output_tokens=out,
                cached_tokens=cached,
                cache_write_tokens=written,
            )
        return total

    def routes(self) -> dict[str, Route]:
        """Settled rows by how they were served (``batch`` first), with time and cost.
        Reads the ledger once (streamed)."""
        models = {
            s.shard_id: price_model(s.caller_model, s.model, self._prices)
            for s in self.store.shards(self.id)
        }
        tokens: dict[tuple[str, str | None], list[int]] = {}
        times: dict[str, tuple[float, float] | None] = {}
        for r in self.store.iter_rows(self.id):
            if r.outcome is None:
                continue
            name = r.route or "batch"
            t = tokens.setdefault((name, models.get(r.shard_id)), [0, 0, 0, 0, 0])
            for k, v in enumerate((1, r.input_tokens, r.output_tokens, r.cached_tokens,
                                   r.cache_write_tokens)):  # fmt: skip
                t[k] += v
            span, at = times.get(name), r.settled_at
            if at is not None:
                times[name] = (min(span[0], at), max(span[1], at)) if span else (at, at)
            else:
                times.setdefault(name, span)
        out: dict[str, Route] = {}
        for name in sorted(times, key=lambda n: (n != "batch", n)):
            rows, cost = 0, Cost()
            for (route, model), (n, i, o, c, w) in tokens.items():
                if route == name:
                    rows += n
                    used = {"input_tokens": i, "output_tokens": o, "cached_tokens": c,
                            "cache_write_tokens": w}  # fmt: skip
                    cost = cost + self._prices.cost(model, **used)
            paid = cost.realtime_usd if name == "realtime" else cost.batch_usd  # flex: batch rate
            span = times[name]
            out[name] = Route(name, rows, paid if cost.priced else None,
                              cost.batch_usd if cost.priced else None,
                              span[0] if span else None, span[1] if span else None)  # fmt: skip
        return out

    def results(self, order: str = "input") -> Iterator[RunResult]:
        """One :class:`RunResult` per request, in ``"input"`` order or as they ``"landed"``
        (a damaged result blob raises :class:`~batchport.errors.DamagedBlobError`)."""
        return iter_results(self.store, self.id, order=order, models=self._models)

    @property
    def backend(self) -> str:
        """The name of the backend the run was submitted to."""
        return self.store.get_run(self.id).backend

    def write_results(self, path: str | Path, fmt: str = "jsonl") -> int:
        """Write every result to ``path`` as JSONL (with bodies) or CSV, each row naming
        the backend; returns the number of rows."""
        return write_results(self.results(), path, fmt, backend=self.backend)

    def summary(self) -> str:
        c = self.cost
        parts = ", ".join(f"{k} {v:,}" for k, v in self.outcomes.items())
        u = self.usage
        money = (
            f"cost ${c.batch_usd:,.4f} (realtime ${c.realtime_usd:,.4f}, saved ${c.saved_usd:,.4f})"
            if c.priced
            else "cost unknown (model not in the price table)"
        )
        # a deadline sent rows another way: the split (read from the ledger) is shown
        mixed = any(is_realtime(s) for s in self.store.shards(self.id))
        routes = self.routes() if mixed else {}
        if mixed:
            paid = [r.cost_usd for r in routes.values()]
            money = (
                f"cost ${sum(p for p in paid if p is not None):,.4f} by route (below)"
                if all(p is not None for p in paid)
                else "cost unknown (model not in the price table)"
            )
        name = self.backend
        where = f"{name} (synthetic answers)" if name in _SYNTHETIC else name
        text = (
            f"run {self.id} on backend {where}: {self.total_rows:,} rows: {parts}; "
            f"tokens in {u.input_tokens:,} out {u.output_tokens:,}; {money}"
        )
        if mixed:
            text += "\n" + route_lines(routes)
        return text


def route_lines(routes: Mapping[str, Route]) -> str:
    """The split by route, one line each, and what the deadline cost over waiting."""
    lines = []
    for r in routes.values():
        cost = f"${r.cost_usd:,.4f}" if r.cost_usd is not None else "cost unknown"
        lines.append(f"  {r.name:<8} {r.rows:>8,} rows  {cost:>12}  over {_span(r.span_s)}")
    extras = [r.extra_usd for r in routes.values() if r.name != "batch"]
    if all(e is not None for e in extras):
        extra = sum(e for e in extras if e is not None)
        lines.append(f"  the deadline cost ${extra:,.4f} more than waiting in batch")
    else:
        lines.append("  what the deadline cost over waiting is unknown (a model has no price)")
    return "\n".join(lines)


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


#: backends whose answers are made up locally: every summary says so
_SYNTHETIC = frozenset({"emulator", "memory"})


def open_run(
    run_id: str,
    *,
    store: StoreLike = None,
    home: str | os.PathLike[str] | None = None,
    models: Mapping[str, type] | None = None,
    prices: PriceTable | None = None,
) -> Run:
    """A run from the store, to read its state, outcomes and results offline: no
    backend and no credentials are needed. ``models`` maps custom_ids to pydantic
    models for ``parsed`` (a :class:`~batchport.BatchBuilder`'s ``output_models``).

    Raises:
        RunError: no such run.
    """
    st, owned = open_store(store if store is not None else home)
    if st.find_run(run_id) is None:
        if owned:
            st.close()
        raise RunError(f"no run {run_id!r} in {st.location}")
    return Run(st, run_id, models=models, prices=prices, owns_store=owned)
