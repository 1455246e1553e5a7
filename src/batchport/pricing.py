"""Prices and cost: a packaged price table that users can override.

Prices are USD per 1,000,000 tokens at the standard (realtime) rate; batch rows cost
``batch_discount`` times that (0.5 on OpenAI, Azure, Anthropic and Gemini). Input tokens read
from a prompt cache are priced at ``cached_input``, and input tokens written to one
(Anthropic's cache creation, 5-minute TTL) at ``cache_write``; either falls back to the
input price when absent. A model that is not in the table is reported as unpriced
(``Cost.priced is False``) rather than guessed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from batchport.errors import InputError

__all__ = ["Cost", "Price", "PriceTable"]

_PER = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens at the realtime rate (``None``: priced as ``input``)."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None


@dataclass(frozen=True, slots=True)
class Cost:
    """What some usage costs as a batch and what it would have cost in realtime (USD)."""

    batch_usd: float = 0.0
    realtime_usd: float = 0.0
    priced: bool = True

    @property
    def saved_usd(self) -> float:
        return self.realtime_usd - self.batch_usd

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.batch_usd + other.batch_usd,
            self.realtime_usd + other.realtime_usd,
            self.priced and other.priced,
        )


def _optional(entry: Mapping[str, Any], key: str) -> float | None:
    return float(entry[key]) if key in entry else None


class PriceTable:
    """Model name -> :class:`Price`. Dated snapshots (``gpt-4o-mini-2024-07-18``) match
    their family by longest prefix."""

    def __init__(self, prices: Mapping[str, Price], *, batch_discount: float = 0.5) -> None:
        self._prices = dict(prices)
        # longest names first so "gpt-4o-mini" wins over "gpt-4o"
        self._order = sorted(self._prices, key=len, reverse=True)
        self.batch_discount = batch_discount

    @classmethod
    def default(cls) -> PriceTable:
        """The packaged table, or the file named by ``BATCHPORT_PRICES``."""
        env = os.environ.get("BATCHPORT_PRICES")
        if env:
            return cls.from_file(env)
        text = resources.files("batchport.data").joinpath("prices.json").read_text("utf-8")
        return cls._from_json(json.loads(text), "prices.json")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PriceTable:
        p = Path(path)
        try:
            data = json.loads(p.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read price table: {exc}", path=str(p)) from exc
        return cls._from_json(data, str(p))

    @classmethod
    def _from_json(cls, data: Any, where: str) -> PriceTable:
        try:
            models = data["models"]
            prices = {
                name: Price(
                    input=float(v["input"]),
                    output=float(v["output"]),
                    cached_input=_optional(v, "cached_input"),
                    cache_write=_optional(v, "cache_write"),
                )
                for name, v in models.items()
            }
            discount = float(data.get("batch_discount", 0.5))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(
                "price table needs {'models': {name: {'input', 'output'}}}",
                path=where,
                rule="price_table",
            ) from exc
        return cls(prices, batch_discount=discount)

    def with_overrides(self, overrides: Mapping[str, Price]) -> PriceTable:
        return PriceTable({**self._prices, **overrides}, batch_discount=self.batch_discount)

    def lookup(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model in self._prices:
            return self._prices[model]
        for name in self._order:
            if model.startswith(name + "-"):
                return self._prices[name]
        return None

    def cost(
        self,
        model: str | None,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> Cost:
        """What the usage costs. ``input_tokens`` counts every prompt token; of them,
        ``cached_tokens`` were read from a prompt cache and ``cache_write_tokens`` written
        to one (each capped at what ``input_tokens`` leaves)."""
        price = self.lookup(model)
        if price is None:
            return Cost(priced=input_tokens == 0 and output_tokens == 0)
        cached = min(max(cached_tokens, 0), input_tokens)
        written = min(max(cache_write_tokens, 0), input_tokens - cached)
        cached_rate = price.input if price.cached_input is None else price.cached_input
        write_rate = price.input if price.cache_write is None else price.cache_write
        realtime = (
            (input_tokens - cached - written) * price.input
            + cached * cached_rate
            + written * write_rate
            + output_tokens * price.output
        ) / _PER
        return Cost(batch_usd=realtime * self.batch_discount, realtime_usd=realtime)
