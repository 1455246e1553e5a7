"""A run as the store keeps it: :class:`Run` reads its state, outcomes, results,
usage and cost, and :func:`open_run` opens one offline (no backend, no credentials)."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path

from batchport.backends.models import Usage
from batchport.errors import RunError
from batchport.pricing import Cost, PriceTable
from batchport.runner.outcomes import Outcome
from batchport.runner.plan import price_model
from batchport.runner.results import RunResult, iter_results, write_results
from batchport.store import RunStore, StoreLike, open_store

__all__ = ["Run", "open_run"]


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

    def results(self, order: str = "input") -> Iterator[RunResult]:
        """One :class:`RunResult` per request, in ``"input"`` order or as they ``"landed"``."""
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
        name = self.backend
        where = f"{name} (synthetic answers)" if name in _SYNTHETIC else name
        return (
            f"run {self.id} on backend {where}: {self.total_rows:,} rows: {parts}; "
            f"tokens in {u.input_tokens:,} out {u.output_tokens:,}; {money}"
        )


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
