from __future__ import annotations

from pathlib import Path

import pytest

import batchport as bp
from batchport.limits import get_profile
from batchport.pricing import PriceTable
from batchport.requests import Request
from batchport.runner.plan import plan_requests

from .conftest import chat


def _many(n: int, model: str = "gpt-4o-mini", first: int = 0) -> list[Request]:
    return [chat(i, "hi", model=model) for i in range(first, first + n)]


def test_120k_requests_become_three_openai_shards_or_two_azure_ones() -> None:
    reqs = _many(120_000)
    prices = PriceTable.default()
    openai = plan_requests(reqs, get_profile("openai"), prices=prices)
    azure = plan_requests(reqs, get_profile("azure"), prices=prices)
    assert [s.rows for s in openai.shards] == [50_000, 50_000, 20_000]
    assert [s.rows for s in azure.shards] == [100_000, 20_000]
    assert openai.total_rows == azure.total_rows == 120_000
    assert openai.fingerprint == azure.fingerprint


def test_models_and_endpoints_never_share_a_shard() -> None:
    reqs = [*_many(3, "gpt-4o-mini"), *_many(2, "gpt-4o", first=3)]
    reqs.append(
        Request(
            custom_id="e",
            url="/v1/embeddings",
            body={"model": "text-embedding-3-small", "input": "x"},
        )
    )
    p = bp.plan(reqs, provider="openai")
    keys = sorted((s.endpoint, s.model, s.rows) for s in p.shards)
    assert keys == [
        ("/v1/chat/completions", "gpt-4o", 2),
        ("/v1/chat/completions", "gpt-4o-mini", 3),
        ("/v1/embeddings", "text-embedding-3-small", 1),
    ]


def test_byte_limit_cuts_shards() -> None:
    big = "x" * 1_000_000  # ~1 MB per line: 200 MB fits ~199 of them
    reqs = [chat(i, big) for i in range(450)]
    p = plan_requests(reqs, get_profile("openai"), prices=PriceTable({}))
    assert len(p.shards) == 3
    assert all(s.bytes <= get_profile("openai").max_file_bytes for s in p.shards)


def test_embedding_inputs_limit_cuts_shards() -> None:
    reqs = [
        Request(
            custom_id=f"e{i}",
            url="/v1/embeddings",
            body={"model": "text-embedding-3-small", "input": ["a"] * 1000},
        )
        for i in range(120)
    ]
    p = plan_requests(reqs, get_profile("openai"), prices=PriceTable({}))
    assert [s.rows for s in p.shards] == [50, 50, 20]


def test_token_cap_cuts_shards() -> None:
    reqs = _many(100)
    p = bp.plan(reqs, provider="openai", options=bp.RunOptions(max_tokens_per_shard=200))
    assert len(p.shards) > 1
    assert all(s.est_input_tokens <= 200 for s in p.shards)


def test_plan_prices_batch_at_half_and_renders(tmp_path: Path) -> None:
    p = bp.plan(_many(1000, "gpt-4o"), provider="openai")
    assert p.cost.priced
    assert p.cost.batch_usd == pytest.approx(p.cost.realtime_usd / 2)
    text = p.render()
    assert "1,000 rows in 1 shard" in text and "as a batch" in text


def test_plan_has_azure_caveats_and_unknown_model_caveat() -> None:
    p = bp.plan(_many(3, "my-deployment"), provider="azure")
    assert any("deployment" in c for c in p.caveats)
    assert any("not in the price table" in c for c in p.caveats)
    assert not p.cost.priced


def test_plan_reads_a_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    bp.write_requests(path, _many(10))
    assert bp.plan(path, provider="openai").total_rows == 10
