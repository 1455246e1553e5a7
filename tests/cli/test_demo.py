"""`batchport demo`: builds, writes, validates and prints a plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchport.cli import main
from batchport.cli.demo_cmd import REVIEWS, Sentiment, build_demo_batch
from batchport.jsonl import read_requests
from batchport.schema import responses_text_format


def test_demo_batch_shape() -> None:
    builder = build_demo_batch()
    assert len(builder) == len(REVIEWS) == 12
    assert any("{" in r for r in REVIEWS)
    assert any(not r.isascii() for r in REVIEWS)
    for request in builder:
        assert request.url == "/v1/responses"
        assert request.body["text"]["format"] == responses_text_format(Sentiment)
        assert builder.output_model(request.custom_id) is Sentiment


def test_demo_prints_a_validated_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "rows          12",
        "endpoint      /v1/responses",
        "model         gpt-4o-mini",
        "input (heuristic)",
        "12 of 12 requests carry an output type",
    ):
        assert expected in out
    table = [line.split() for line in out.splitlines() if line.startswith(("OpenAI", "Azure"))]
    assert table == [
        ["OpenAI", "50,000", "200", "MB", "1", "OK"],
        ["Azure", "OpenAI", "100,000", "200", "MB", "1", "OK"],
    ]


def test_demo_out_keeps_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    path = tmp_path / "demo" / "sentiment.jsonl"
    requests = list(read_requests(path))
    assert [r.custom_id for r in requests] == [f"review-{n:02d}" for n in range(1, 13)]
    texts = [r.body["input"][0]["content"][0]["text"] for r in requests]
    assert texts == list(REVIEWS)  # braces and non-ASCII survive unchanged
    assert str(path) in capsys.readouterr().out


def test_demo_runs_the_batch_with_visible_partial_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    table = [line.split() for line in out.splitlines() if line.startswith("review-")]
    assert [row[0] for row in table] == [f"review-{n:02d}" for n in range(1, 13)]
    outcomes = {row[1] for row in table}
    assert outcomes == {"succeeded", "failed"}  # the seeded 400s are not retried
    assert any(row[1] == "succeeded" and row[2] == "2" for row in table)  # a 429/500 retried
    for row in table:
        if row[1] == "succeeded":
            assert row[3] in {"positive", "negative", "mixed", "neutral"}
            assert 0 <= float(row[4].strip("()")) <= 1
    assert "12 rows: failed 2, succeeded 10" in out


def test_demo_plan_only_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--plan-only"]) == 0
    out = capsys.readouterr().out
    assert "on the emulator" not in out
    assert "rows          12" in out
