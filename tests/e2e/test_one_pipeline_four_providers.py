"""One pipeline, four providers: the same requests run on the emulator's OpenAI, Azure,
Anthropic and Gemini dialects, changing nothing but the backend setting. The same
custom_ids come back with the same outcomes and parsed models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import BaseModel

import batchport as bp
from batchport.runner import InstantClock
from batchport_emulator import Emulator


class Sentiment(BaseModel):
    label: str
    score: float


def _requests() -> bp.BatchBuilder:
    reqs = bp.BatchBuilder()
    for i, text in enumerate(["Great phone", "Awful battery", "It is fine"]):
        reqs.chat.completions.parse(
            custom_id=f"review:{i}.a",  # not an id Anthropic accepts: mapped and back
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "Classify the review."},
                {"role": "user", "content": text},
            ],
            response_format=Sentiment,
        )
    reqs.chat.completions.create(
        custom_id="plain-1",
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        max_tokens=50,
    )
    reqs.chat.completions.create(
        custom_id="too-long-" + "x" * 60,
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say no [[emulator:refuse]]"}],
    )
    return reqs


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    emu = Emulator({"azure": {"deployments": [{"name": "mini-batch"}]}})
    await emu.start()
    # each provider's own settings, as its SDK reads them, all pointing at one server
    monkeypatch.setenv("OPENAI_BASE_URL", emu.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-e2e")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", emu.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azk-e2e")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENTS", "gpt-4o-mini=mini-batch")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emu.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-e2e")
    monkeypatch.setenv("BATCHPORT_ANTHROPIC_MODELS", "gpt-4o-mini=claude-haiku-4-5")
    monkeypatch.setenv("GEMINI_BASE_URL", emu.url)
    monkeypatch.setenv("GEMINI_API_KEY", "gm-e2e-key")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("BATCHPORT_GEMINI_MODELS", "gpt-4o-mini=gemini-2.5-flash")
    yield emu
    await emu.stop()


async def test_the_same_requests_come_back_the_same_on_four_providers(
    emulator: Emulator, tmp_path: Path
) -> None:
    seen: dict[str, dict[str, tuple[str, bool, bool]]] = {}
    for backend in ("openai", "azure", "anthropic", "gemini"):
        run = await bp.run(_requests(), backend=backend, home=tmp_path / backend,
                           progress=False, clock=InstantClock(real_sleep=0.002))  # fmt: skip
        with run:
            assert run.state == "done", backend
            seen[backend] = {
                r.custom_id: (r.outcome.value, isinstance(r.parsed, Sentiment), bool(r.text))
                for r in run.results()
            }
            assert run.cost.priced and run.cost.batch_usd > 0
    ids = set(_requests().output_models) | {"plain-1", "too-long-" + "x" * 60}
    for backend, rows in seen.items():
        assert set(rows) == ids, backend
    # a refusal: OpenAI and Azure say so in the message, Anthropic by stop_reason
    # "refusal"; Gemini has no refusal, only a safety stop, which is content filtering
    long_id = "too-long-" + "x" * 60
    refused = {backend: rows.pop(long_id)[0] for backend, rows in seen.items()}
    assert refused == {"openai": "refused", "azure": "refused", "anthropic": "refused",
                       "gemini": "content_filtered"}  # fmt: skip
    assert seen["openai"] == seen["azure"] == seen["anthropic"] == seen["gemini"]
    parse_rows = {cid: row for cid, row in seen["anthropic"].items() if cid.startswith("review")}
    assert set(parse_rows.values()) == {("succeeded", True, True)}
    # each batch really went through its provider's own API
    kinds = {b.get("dialect") for b in emulator.batches()}
    assert {"openai", "azure", "anthropic", "gemini"} <= kinds
