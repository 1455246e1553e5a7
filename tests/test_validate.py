"""validate_file: every rule, with each provider's code and the right line number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from batchport.errors import ConfigError, InputError, ValidationFailed
from batchport.limits import PROVIDERS, ProviderProfile
from batchport.validate import Problem, validate_file

CHAT = "/v1/chat/completions"


def chat_line(cid: str = "a", model: str = "gpt-4o-mini", **body: Any) -> dict[str, Any]:
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
    return {"custom_id": cid, "method": "POST", "url": CHAT, "body": payload}


def write(tmp_path: Path, *lines: object, name: str = "b.jsonl") -> Path:
    path = tmp_path / name
    raw = [line if isinstance(line, bytes) else orjson.dumps(line) for line in lines]
    path.write_bytes(b"".join(r + b"\n" for r in raw))
    return path


def codes(path: Path, provider: str = "openai", **kw: Any) -> list[tuple[int | None, str]]:
    return [(p.line, p.code) for p in validate_file(path, provider=provider, **kw).problems]


def test_clean_file_reports_its_shape(tmp_path: Path) -> None:
    path = write(tmp_path, chat_line("a", max_tokens=10), chat_line("b"))
    report = validate_file(path)
    assert report.ok
    assert report.problems == ()
    assert not report.truncated
    assert (report.lines, report.requests, report.bytes) == (2, 2, path.stat().st_size)
    assert report.endpoint == CHAT
    assert report.model == "gpt-4o-mini"
    assert report.estimated_input_tokens > 0
    assert report.estimated_output_tokens == 10 + 1024
    assert report.raise_if_invalid() is report
    assert "OK for openai" in report.summary()


@pytest.mark.parametrize(
    ("provider", "expected"),
    [("openai", "invalid_json_line"), ("azure", "invalid_json_line")],
)
def test_invalid_json_and_blank_lines(tmp_path: Path, provider: str, expected: str) -> None:
    path = write(tmp_path, chat_line("a"), b"{nope", b"", b"   ", chat_line("b"))
    assert codes(path, provider) == [(2, expected), (3, expected), (4, expected)]
    problems = validate_file(path).problems
    assert "not parseable as valid JSON" in problems[0].message
    assert "blank line" in problems[1].message


def test_missing_parameters_one_problem_each(tmp_path: Path) -> None:
    path = write(tmp_path, {"custom_id": "a"})
    problems = validate_file(path).problems
    assert [(p.code, p.param) for p in problems] == [
        ("missing_required_parameter", "method"),
        ("missing_required_parameter", "url"),
        ("missing_required_parameter", "body"),
    ]
    assert problems[0].message == "Missing required parameter: 'method'."
    assert {p.code for p in validate_file(path, provider="azure").problems} == {"invalid_request"}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@pytest.mark.parametrize("field", ["model", "messages"])
def test_a_required_field_that_is_null_is_missing(
    tmp_path: Path, provider: str, field: str
) -> None:
    """``"model": null`` passed validation and planning and failed only once sent: a
    null is no value, so a required field holding one is reported as missing."""
    line = chat_line("a")
    line["body"][field] = None
    problems = validate_file(write(tmp_path, line), provider=provider).problems
    assert any(p.line == 1 and p.param == f"body.{field}" for p in problems), problems


def test_url_rules_per_provider(tmp_path: Path) -> None:
    embed = {
        "custom_id": "e",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "gpt-4o-mini", "input": "x"},
    }
    short = {**chat_line("s"), "url": "/chat/completions"}
    bogus = {**chat_line("x"), "url": "/v1/chat"}
    path = write(tmp_path, chat_line("a"), embed, short, bogus)
    assert codes(path) == [(2, "invalid_url"), (3, "invalid_url"), (4, "invalid_url")]
    # Azure: embeddings unsupported, short form accepted but must match the other lines
    assert codes(path, "azure") == [(2, "url_mismatch"), (3, "url_mismatch"), (4, "url_mismatch")]
    azure = validate_file(path, provider="azure").problems
    assert "do not support /v1/embeddings" in azure[0].message
    assert "written differently from line 1" in azure[1].message


def test_azure_short_urls_are_fine_when_consistent(tmp_path: Path) -> None:
    short = [{**chat_line(c), "url": "/chat/completions"} for c in "ab"]
    path = write(tmp_path, *short)
    assert validate_file(path, provider="azure").ok
    assert codes(path) == [(1, "invalid_url"), (2, "invalid_url")]


def test_explicit_endpoint(tmp_path: Path) -> None:
    path = write(tmp_path, chat_line("a"))
    assert codes(path, endpoint="/v1/responses") == [(1, "invalid_url")]
    assert validate_file(path, provider="azure", endpoint="/chat/completions").ok
    # Azure reads the endpoint from the file: its samples pass /chat/completions for
    # /v1/responses files, so only the lines' agreement counts there.
    responses = {**chat_line("r"), "url": "/v1/responses", "body": {"model": "m", "input": "x"}}
    other = write(tmp_path, responses, name="r.jsonl")
    assert validate_file(other, provider="azure", endpoint="/chat/completions").ok
    assert codes(other, endpoint="/v1/chat/completions") == [(1, "invalid_url")]
    with pytest.raises(ConfigError, match="not a batch endpoint"):
        validate_file(path, endpoint="/v1/nope")
    with pytest.raises(ConfigError, match="do not support"):
        validate_file(path, provider="azure", endpoint="/v1/embeddings")


def test_duplicates_name_the_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, chat_line("a"), chat_line("b"), chat_line("a"), chat_line("a"))
    problems = validate_file(path).problems
    assert [(p.line, p.code, p.param) for p in problems] == [
        (3, "duplicate_custom_id", "custom_id"),
        (4, "duplicate_custom_id", "custom_id"),
    ]
    assert "duplicate of line 1" in problems[1].message


def test_model_mismatch_codes(tmp_path: Path) -> None:
    path = write(tmp_path, chat_line("a"), chat_line("b", model="gpt-4o"))
    assert codes(path) == [(2, "mismatched_model")]
    assert codes(path, "azure") == [(2, "model_mismatch")]
    assert "deployment" in validate_file(path, provider="azure").problems[0].message
    assert validate_file(path).models == {"gpt-4o-mini": 1, "gpt-4o": 1}


def test_streaming_method_and_field_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        chat_line("a", stream=True),
        {**chat_line("b"), "method": "GET"},
        {**chat_line("c"), "custom_id": 7},
        {**chat_line("d"), "body": [1]},
        chat_line("e", model=5),
        {**chat_line("f"), "body": {"model": "gpt-4o-mini", "messages": []}},
        [1, 2],
    )
    problems = validate_file(path).problems
    assert [(p.line, p.code, p.param) for p in problems] == [
        (1, "streaming_unsupported", "body.stream"),
        (2, "invalid_request", "method"),
        (3, "invalid_request", "custom_id"),
        (4, "invalid_request", "body"),
        (5, "invalid_request", "body.model"),
        (6, "invalid_request", "body.messages"),
        (7, "invalid_request", None),
    ]
    assert problems[-1].message == "each line must be a JSON object, not an array."


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        (CHAT, {"messages": [{"role": "user", "content": "x"}]}, "Model parameter is required."),
        (CHAT, {"model": "m"}, "Messages parameter is required."),
        ("/v1/responses", {"model": "m"}, "Input or prompt parameter is required."),
        ("/v1/embeddings", {"model": "m"}, "Input parameter is required."),
        ("/v1/moderations", {}, "Input parameter is required."),
        ("/v1/images/edits", {"prompt": "x"}, "Image parameter is required."),
    ],
)
def test_required_body_fields(tmp_path: Path, url: str, body: dict[str, Any], message: str) -> None:
    path = write(tmp_path, {"custom_id": "a", "method": "POST", "url": url, "body": body})
    problems = validate_file(path).problems
    assert [(p.code, p.message) for p in problems] == [("invalid_request", message)]


def test_empty_file_and_only_blank_lines(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert codes(empty) == [(None, "empty_file")]
    assert codes(empty, "azure") == [(None, "empty_file")]
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\n\n")
    assert codes(blank) == [
        (None, "empty_file"),
        (1, "invalid_json_line"),
        (2, "invalid_json_line"),
    ]


def small(profile: str, **changes: Any) -> ProviderProfile:
    from dataclasses import replace

    return replace(PROVIDERS[profile], **changes)


def test_too_many_tasks_and_file_size(tmp_path: Path) -> None:
    path = write(tmp_path, *(chat_line(f"r{i}") for i in range(4)))
    tight = small("openai", max_requests=3, max_file_bytes=100)
    problems = validate_file(path, provider=tight).problems
    assert [(p.line, p.code) for p in problems] == [
        (None, "file_too_large"),
        (None, "too_many_tasks"),
    ]
    assert "4 requests" in problems[1].message
    assert "at most 3" in problems[1].message
    assert validate_file(path).ok


def test_too_many_embedding_inputs(tmp_path: Path) -> None:
    line = {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "e", "input": ["x"] * 3},
    }
    tokens = {**line, "custom_id": "b", "body": {"model": "e", "input": [1, 2, 3]}}
    path = write(tmp_path, line, tokens)
    assert validate_file(path).embedding_inputs == 4
    report = validate_file(path, provider=small("openai", max_embedding_inputs=3))
    assert [(p.line, p.code, p.param) for p in report.problems] == [
        (None, "invalid_request", "body.input")
    ]
    assert "4 inputs" in report.problems[0].message


@pytest.mark.parametrize(
    ("provider", "code", "hint"),
    [
        ("openai", "invalid_json_line", "line 1"),
        ("azure", "invalid_request", "deployment name couldn't be extracted"),
    ],
)
def test_utf8_bom_is_explained(tmp_path: Path, provider: str, code: str, hint: str) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + orjson.dumps(chat_line("a")), chat_line("b"))
    problems = validate_file(path, provider=provider).problems
    assert [(p.line, p.code) for p in problems] == [
        (1, code)
    ]  # line 1 is otherwise checked normally
    assert "byte order mark" in problems[0].message
    assert hint in problems[0].message


def test_max_problems_keeps_count_and_file_level_problems(tmp_path: Path) -> None:
    path = write(tmp_path, *([b"{bad"] * 50))
    report = validate_file(path, provider=small("openai", max_requests=10), max_problems=5)
    assert report.problem_count == 51
    assert report.truncated
    assert len(report.problems) == 6  # 5 line problems + the file-level one, which is never dropped
    assert report.problems[0].line is None


def test_raise_if_invalid_carries_problems(tmp_path: Path) -> None:
    path = write(tmp_path, b"{bad")
    with pytest.raises(ValidationFailed) as info:
        validate_file(path).raise_if_invalid()
    assert len(info.value.problems) == 1
    assert isinstance(info.value.problems[0], Problem)
    assert str(path) in str(info.value)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        validate_file(tmp_path / "missing.jsonl")


def test_problem_formats() -> None:
    line = Problem("f.jsonl", 3, "invalid_url", "bad", "url", "invalid_url")
    whole = Problem("f.jsonl", None, "empty_file", "empty")
    assert str(line) == "f.jsonl:3: invalid_url: bad"
    assert str(whole) == "f.jsonl: empty_file: empty"
    assert line.to_dict()["param"] == "url"


def test_report_to_dict_is_json(tmp_path: Path) -> None:
    path = write(tmp_path, chat_line("a"), b"{")
    data = orjson.loads(orjson.dumps(validate_file(path).to_dict()))
    assert data["ok"] is False
    assert data["problem_count"] == 1
    assert data["problems"][0]["line"] == 2
    assert data["endpoints"] == {CHAT: 1}


def test_memory_keeps_ids_not_lines(tmp_path: Path) -> None:
    import tracemalloc

    big = "x" * 20_000
    path = write(tmp_path, *(chat_line(f"r{i}", user=big) for i in range(300)))
    tracemalloc.start()
    report = validate_file(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.ok
    assert path.stat().st_size > 6_000_000
    assert peak < 1_000_000  # a few lines at a time, never the file


def test_a_first_line_without_url_is_reported_not_crashed(tmp_path: Path) -> None:
    path = tmp_path / "no-url.jsonl"
    path.write_bytes(b'{"custom_id": "a", "body": {}, "method": "POST"}\n')
    report = validate_file(path)
    assert "missing_required_parameter" in [p.code for p in report.problems]


@pytest.mark.parametrize(
    ("provider", "url", "body", "field"),
    [
        ("openai", CHAT, {"model": "m", "messages": []}, "messages"),
        ("openai", CHAT, {"model": "m", "messages": "hi"}, "messages"),
        ("anthropic", "/v1/messages", {"model": "m", "max_tokens": 9, "messages": {}}, "messages"),
        ("gemini", "/v1beta/generateContent", {"model": "m", "contents": []}, "contents"),
    ],
)
def test_message_arrays_must_be_non_empty(
    tmp_path: Path, provider: str, url: str, body: dict[str, Any], field: str
) -> None:
    path = write(tmp_path, {"custom_id": "a", "method": "POST", "url": url, "body": body})
    problems = validate_file(path, provider=provider).problems
    assert [(p.line, p.rule, p.param, p.message) for p in problems] == [
        (1, "invalid_body_field", f"body.{field}", f"{field} must be a non-empty array.")
    ]
