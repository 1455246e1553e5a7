"""The price table: Claude models, cache reads and writes, and unchanged OpenAI costs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport.errors import InputError
from batchport.pricing import Price, PriceTable

TABLE = PriceTable.default()

CLAUDE = [
    "claude-opus-5",
    "claude-opus-4-5",
    "claude-opus-4-1",
    "claude-sonnet-4-5",
    "claude-sonnet-4",
    "claude-haiku-4-5",
    "claude-3-5-haiku",
]


@pytest.mark.parametrize("model", CLAUDE)
def test_claude_models_have_cache_prices(model: str) -> None:
    price = TABLE.lookup(model)
    assert price is not None
    assert price.cached_input == pytest.approx(price.input * 0.1)
    assert price.cache_write == pytest.approx(price.input * 1.25)


@pytest.mark.parametrize(
    ("model", "input_price", "output_price"),
    [
        ("claude-opus-4-5-20251101", 5.0, 25.0),
        ("claude-opus-4-1-20250805", 15.0, 75.0),
        ("claude-opus-4-20250514", 15.0, 75.0),
        ("claude-sonnet-4-5-20250929", 3.0, 15.0),
        ("claude-sonnet-4-20250514", 3.0, 15.0),
        ("claude-haiku-4-5-20251001", 1.0, 5.0),
        ("claude-3-5-haiku-20241022", 0.8, 4.0),
        ("claude-3-5-haiku-latest", 0.8, 4.0),
    ],
)
def test_dated_claude_names_find_their_family(
    model: str, input_price: float, output_price: float
) -> None:
    price = TABLE.lookup(model)
    assert price is not None
    assert (price.input, price.output) == (input_price, output_price)


def test_batch_is_half_of_realtime_for_claude() -> None:
    cost = TABLE.cost("claude-haiku-4-5", input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost.realtime_usd == pytest.approx(6.0)
    assert cost.batch_usd == pytest.approx(3.0)
    assert cost.saved_usd == pytest.approx(3.0)


def test_cache_reads_and_writes_are_priced_apart() -> None:
    # 1M input tokens: 200k read from the cache, 300k written to it, 500k plain
    cost = TABLE.cost(
        "claude-sonnet-4-5",
        input_tokens=1_000_000,
        output_tokens=0,
        cached_tokens=200_000,
        cache_write_tokens=300_000,
    )
    expected = 0.5 * 3.0 + 0.2 * 0.3 + 0.3 * 3.75
    assert cost.realtime_usd == pytest.approx(expected)
    assert cost.batch_usd == pytest.approx(expected / 2)


def test_cache_writes_fall_back_to_the_input_price() -> None:
    table = PriceTable({"m": Price(input=2.0, output=4.0, cached_input=1.0)})
    with_writes = table.cost("m", input_tokens=1_000_000, output_tokens=0, cache_write_tokens=10)
    plain = table.cost("m", input_tokens=1_000_000, output_tokens=0)
    assert with_writes == plain


def test_cache_counts_are_capped_by_the_input() -> None:
    cost = TABLE.cost(
        "claude-haiku-4-5",
        input_tokens=100,
        output_tokens=0,
        cached_tokens=80,
        cache_write_tokens=80,
    )
    assert cost.realtime_usd == pytest.approx((80 * 0.1 + 20 * 1.25) / 1_000_000)


@given(
    model=st.sampled_from(["gpt-4o-mini", "gpt-4.1", "o3", "text-embedding-3-small"]),
    input_tokens=st.integers(0, 10**9),
    output_tokens=st.integers(0, 10**9),
    cached=st.integers(0, 10**9),
    written=st.integers(0, 10**9),
)
def test_openai_costs_ignore_cache_writes(
    model: str, input_tokens: int, output_tokens: int, cached: int, written: int
) -> None:
    # OpenAI models have no cache-write price and report no cache writes: a write count
    # there costs what plain input costs, so the cost is the one it always was.
    before = TABLE.cost(
        model, input_tokens=input_tokens, output_tokens=output_tokens, cached_tokens=cached
    )
    after = TABLE.cost(
        model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached,
        cache_write_tokens=written,
    )
    assert after.realtime_usd == pytest.approx(before.realtime_usd)
    assert TABLE.lookup(model) is not None
    assert TABLE.lookup(model).cache_write is None  # type: ignore[union-attr]


def test_openai_cost_is_unchanged() -> None:
    cost = TABLE.cost(
        "gpt-4o-mini", input_tokens=1_000_000, output_tokens=1_000_000, cached_tokens=500_000
    )
    assert cost.realtime_usd == pytest.approx(0.5 * 0.15 + 0.5 * 0.075 + 0.6)


def test_price_file_reads_cache_write(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    entry = {"input": 1, "output": 2, "cached_input": 0.1, "cache_write": 1.25}
    path.write_text(json.dumps({"models": {"m": entry}}))
    price = PriceTable.from_file(path).lookup("m")
    assert price == Price(input=1.0, output=2.0, cached_input=0.1, cache_write=1.25)


def test_price_file_with_a_bad_cache_write_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"m": {"input": 1, "output": 2, "cache_write": "x"}}}))
    with pytest.raises(InputError) as info:
        PriceTable.from_file(path)
    assert info.value.rule == "price_table"


GEMINI = {
    "gemini-2.5-pro": Price(input=1.25, output=10.0, cached_input=0.125),
    "gemini-2.5-flash": Price(input=0.3, output=2.5, cached_input=0.03),
    "gemini-2.5-flash-lite": Price(input=0.1, output=0.4, cached_input=0.01),
    "gemini-2.0-flash": Price(input=0.1, output=0.4, cached_input=0.025),
    "gemini-2.0-flash-lite": Price(input=0.075, output=0.3),
}


@pytest.mark.parametrize(("model", "price"), GEMINI.items())
def test_gemini_models_at_the_standard_short_prompt_rate(model: str, price: Price) -> None:
    assert TABLE.lookup(model) == price


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("gemini-2.5-flash-lite-preview-09-2025", "gemini-2.5-flash-lite"),
        ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini-2.0-flash-lite-001", "gemini-2.0-flash-lite"),
    ],
)
def test_gemini_versions_find_their_family(name: str, family: str) -> None:
    assert TABLE.lookup(name) == TABLE.lookup(family)


def test_gemini_batch_is_half_and_cache_hits_are_cheaper() -> None:
    cost = TABLE.cost(
        "gemini-2.5-flash", input_tokens=1_000_000, output_tokens=1_000_000, cached_tokens=500_000
    )
    realtime = 0.5 * 0.3 + 0.5 * 0.03 + 2.5
    assert cost.realtime_usd == pytest.approx(realtime)
    assert cost.batch_usd == pytest.approx(realtime / 2)


def test_gemini_without_a_cache_price_charges_cache_hits_as_input() -> None:
    cost = TABLE.cost("gemini-2.0-flash-lite", input_tokens=100, output_tokens=0, cached_tokens=100)
    assert cost.realtime_usd == pytest.approx(100 * 0.075 / 1_000_000)
