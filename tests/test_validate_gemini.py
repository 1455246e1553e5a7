"""validate_file and RequestChecker with the ``gemini`` profile: /v1beta/generateContent
lines, translated endpoints, free-form keys (no pattern), duplicates, one model per batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from batchport.validate import RequestChecker, validate_file

GENERATE = "/v1beta/generateContent"
CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]


def gemini_line(cid: str = "a", model: str = "gemini-2.5-flash", **body: Any) -> dict[str, Any]:
    payload = {"model": model, "contents": CONTENTS, **body}
    return {"custom_id": cid, "method": "POST", "url": GENERATE, "body": payload}


def chat_line(cid: str = "a", model: str = "gpt-4o-mini") -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}


def write(tmp_path: Path, *lines: dict[str, Any]) -> Path:
    path = tmp_path / "b.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def rules(path: Path, provider: str = "gemini", **kw: Any) -> list[tuple[int | None, str]]:
    return [(p.line, p.rule) for p in validate_file(path, provider=provider, **kw).problems]


def test_gemini_file_is_clean_with_free_form_keys(tmp_path: Path) -> None:
    config = {"generationConfig": {"maxOutputTokens": 50}}
    path = write(tmp_path, gemini_line("review:42/é a", **config), gemini_line("b" * 300))
    report = validate_file(path, provider="gemini")
    assert report.ok, report.problems
    assert report.endpoint == GENERATE
    assert report.models == {"gemini-2.5-flash": 2}
    assert report.estimated_input_tokens > 0
    assert report.estimated_output_tokens == 50 + 1024


def test_duplicate_keys_are_reported_with_gemini_code(tmp_path: Path) -> None:
    report = validate_file(write(tmp_path, gemini_line("a"), gemini_line("a")), provider="gemini")
    assert [(p.line, p.rule, p.code) for p in report.problems] == [
        (2, "duplicate_custom_id", "INVALID_ARGUMENT")
    ]


def test_one_model_per_batch(tmp_path: Path) -> None:
    path = write(tmp_path, gemini_line("a"), gemini_line("b", model="gemini-2.5-pro"))
    assert rules(path) == [(2, "model_mismatch")]
    assert rules(path, as_provider_file=False) == []


def test_missing_and_empty_contents(tmp_path: Path) -> None:
    missing = gemini_line("a")
    del missing["body"]["contents"]
    path = write(tmp_path, missing, gemini_line("b", contents=[]), gemini_line("c", contents="x"))
    assert rules(path) == [
        (1, "missing_body_field"),
        (2, "invalid_body_field"),
        (3, "invalid_body_field"),
    ]


def test_chat_lines_are_accepted_for_translation(tmp_path: Path) -> None:
    assert rules(write(tmp_path, chat_line("a"), chat_line("b"))) == []


@pytest.mark.parametrize("provider", ["openai", "azure", "anthropic"])
def test_other_providers_refuse_generate_content(tmp_path: Path, provider: str) -> None:
    found = rules(write(tmp_path, gemini_line("a")), provider)
    assert found in ([(1, "unsupported_endpoint")], [(1, "invalid_url")])


def test_gemini_refuses_messages_lines(tmp_path: Path) -> None:
    line = {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/messages",
        "body": {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user"}]},
    }
    assert rules(write(tmp_path, line)) == [(1, "unsupported_endpoint")]


def test_request_checker_refuses_untranslated_lines_and_checks_no_pattern() -> None:
    checker = RequestChecker("shard-1", "gemini")
    for number, line in enumerate(
        [gemini_line("a:b c"), chat_line("d", "gemini-2.5-flash"), gemini_line("a:b c")], 1
    ):
        checker.check(number, orjson.dumps(line), line)
    found = [(p.line, p.rule) for p in checker.report().problems]
    assert found == [(2, "unsupported_endpoint"), (3, "duplicate_custom_id")]
