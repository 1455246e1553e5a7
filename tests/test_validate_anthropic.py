"""validate_file and RequestChecker with the ``anthropic`` profile: /v1/messages lines,
translated endpoints, the custom_id pattern and the switch that turns it off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from batchport.cli import main
from batchport.validate import RequestChecker, validate_file

MESSAGES = "/v1/messages"


def messages_line(cid: str = "a", model: str = "claude-haiku-4-5", **body: Any) -> dict[str, Any]:
    payload = {
        "model": model,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        **body,
    }
    return {"custom_id": cid, "method": "POST", "url": MESSAGES, "body": payload}


def chat_line(cid: str = "a", model: str = "gpt-4o-mini") -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}


def write(tmp_path: Path, *lines: dict[str, Any]) -> Path:
    path = tmp_path / "b.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def rules(path: Path, provider: str = "anthropic", **kw: Any) -> list[tuple[int | None, str]]:
    return [(p.line, p.rule) for p in validate_file(path, provider=provider, **kw).problems]


def test_messages_file_is_clean_and_mixes_models(tmp_path: Path) -> None:
    path = write(tmp_path, messages_line("a"), messages_line("b", model="claude-sonnet-4-5"))
    report = validate_file(path, provider="anthropic")
    assert report.ok, report.problems
    assert report.endpoint == MESSAGES
    assert set(report.models) == {"claude-haiku-4-5", "claude-sonnet-4-5"}
    assert report.estimated_input_tokens > 0
    assert report.estimated_output_tokens == 200


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_openai_shaped_providers_refuse_messages(tmp_path: Path, provider: str) -> None:
    path = write(tmp_path, messages_line("a"))
    found = rules(path, provider)
    assert found in ([(1, "unsupported_endpoint")], [(1, "invalid_url")])


def test_missing_messages_fields(tmp_path: Path) -> None:
    line = messages_line("a")
    del line["body"]["max_tokens"]
    line["body"]["messages"] = []
    path = write(tmp_path, line)
    report = validate_file(path, provider="anthropic")
    assert [(p.line, p.rule, p.param) for p in report.problems] == [
        (1, "missing_body_field", "body.max_tokens"),
        (1, "invalid_body_field", "body.messages"),
    ]
    assert {p.code for p in report.problems} == {"invalid_request_error"}


def test_translated_endpoints_are_accepted_in_a_callers_file(tmp_path: Path) -> None:
    path = write(tmp_path, chat_line("a"), chat_line("b"))
    assert rules(path) == []
    assert rules(path, as_provider_file=False) == []


def test_custom_id_pattern_names_file_line_and_rule(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        messages_line("ok-1"),
        messages_line("review:42.a"),
        messages_line("x" * 65),
        messages_line("x" * 64),
        messages_line("review:42.a"),
    )
    for splittable in (False, True):
        report = validate_file(path, provider="anthropic", as_provider_file=not splittable)
        assert [(p.line, p.rule) for p in report.problems] == [
            (2, "custom_id_pattern"),
            (3, "custom_id_pattern"),
            (5, "duplicate_custom_id"),
        ]
    first = report.problems[0]
    assert str(first).startswith(f"{path}:2: invalid_request_error: custom_id 'review:42.a'")
    assert "custom_id_pattern" in first.message
    assert first.param == "custom_id"


def test_custom_id_pattern_on_the_fast_path(tmp_path: Path) -> None:
    # lines after the first take the fast path (same url, POST, string id, dict body)
    path = write(tmp_path, *(messages_line(f"r.{i}") for i in range(3)))
    assert rules(path) == [(n, "custom_id_pattern") for n in (1, 2, 3)]


def test_openai_ignores_the_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, chat_line("review:42.a"))
    assert rules(path, "openai") == []


def test_cli_reports_the_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, messages_line("a"), messages_line("a.b"))
    assert main(["validate", str(path), "--provider", "anthropic"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}:2: invalid_request_error: custom_id 'a.b'")
    assert "custom_id_pattern" in out[0]
    assert main(["validate", str(path), "--provider", "anthropic", "--json"]) == 1
    data = orjson.loads(capsys.readouterr().out)
    assert [(p["line"], p["rule"]) for p in data["problems"]] == [(2, "custom_id_pattern")]


def _check(checker: RequestChecker, *lines: dict[str, Any]) -> list[tuple[int | None, str]]:
    for number, line in enumerate(lines, 1):
        checker.check(number, orjson.dumps(line), line)
    return [(p.line, p.rule) for p in checker.report().problems]


def test_request_checker_checks_the_pattern_by_default() -> None:
    checker = RequestChecker("<run>", "anthropic")
    assert _check(checker, messages_line("a:1")) == [(1, "custom_id_pattern")]


def test_request_checker_skips_the_pattern_when_ids_are_mapped() -> None:
    checker = RequestChecker("<run>", "anthropic", ids_mapped=True)
    lines = (messages_line("a:1"), messages_line("a:1"), messages_line("x" * 100))
    assert _check(checker, *lines) == [(2, "duplicate_custom_id")]


def test_request_checker_refuses_untranslated_lines() -> None:
    checker = RequestChecker("<run>", "anthropic", ids_mapped=True)
    assert _check(checker, chat_line("a")) == [(1, "unsupported_endpoint")]
