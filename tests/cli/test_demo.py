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
    assert "SYNTHETIC answers" in out and "(synthetic answers)" in out
    rows = {line[:9]: line for line in out.splitlines() if line.startswith("review-")}
    assert list(rows) == [f"review-{n:02d}" for n in range(1, 13)]
    # the columns after the review text: outcome, tries, label (confidence), evidence
    cells = {cid: line.split("  ")[-1] for cid, line in rows.items()}
    tails = {cid: line[46:].split() for cid, line in rows.items()}
    outcomes = {t[0] for t in tails.values()}
    assert outcomes == {"succeeded", "failed"}  # the seeded 400s are not retried
    assert any(t[0] == "succeeded" and t[1] == "2" for t in tails.values())  # a 429/500 retried
    # the labels follow the stated keyword rule, so a reader can check them
    assert cells["review-01"].startswith("positive (0.90) best")
    assert cells["review-02"].startswith("negative (0.90) stopped, never")
    assert cells["review-03"].startswith("mixed (0.60)")
    assert "Battery lasts two full days" in rows["review-01"]  # the review itself is shown
    assert "12 rows: failed 2, succeeded 10" in out
    assert "row(s) needed more than one try" in out


def test_demo_plan_only_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--plan-only"]) == 0
    out = capsys.readouterr().out
    assert "on the emulator" not in out
    assert "rows          12" in out
