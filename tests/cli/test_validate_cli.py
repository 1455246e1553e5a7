"""`batchport validate`: output format, exit statuses, --json, --max-problems."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from batchport.cli import main

GOOD = {
    "custom_id": "a",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
}


def _file(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def test_clean_file_exits_zero_with_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, orjson.dumps(GOOD))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].startswith(f"{path}: OK for openai: 1 requests")
    assert out[1].startswith("batchport will send it as 1 batch(es)")


def test_problems_one_per_line_then_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dup = orjson.dumps(GOOD)
    path = _file(tmp_path, dup, b"{oops", dup)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}:2: invalid_json_line: This line is not parseable")
    assert out[1].startswith(f"{path}:3: duplicate_custom_id: ")
    assert out[2].startswith(f"{path}: 2 problem(s) for openai")


def test_file_level_problems_have_no_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path)
    assert main(["validate", str(path), "--provider", "azure"]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{path}: empty_file: The input file is empty")


def test_provider_codes_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = {**GOOD, "custom_id": "b", "body": {**GOOD["body"], "model": "other"}}  # type: ignore[dict-item]
    path = _file(tmp_path, orjson.dumps(GOOD), orjson.dumps(other))
    main(["validate", str(path), "--as-provider-file"])
    assert ":2: mismatched_model:" in capsys.readouterr().out
    main(["validate", str(path), "--provider", "azure", "--as-provider-file"])
    assert ":2: model_mismatch:" in capsys.readouterr().out


def test_mixed_models_are_fine_for_batchport_which_splits_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = {**GOOD, "custom_id": "b", "body": {**GOOD["body"], "model": "gpt-4o"}}  # type: ignore[dict-item]
    path = _file(tmp_path, orjson.dumps(GOOD), orjson.dumps(other))
    assert main(["validate", str(path)]) == 0  # what `plan` and `run` accept
    assert "send it as 2 batch(es)" in capsys.readouterr().out
    assert main(["validate", str(path), "--as-provider-file"]) == 1


def test_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, orjson.dumps(GOOD), b"[]")
    assert main(["validate", "--json", str(path)]) == 1
    report = orjson.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["problems"] == [
        {
            "path": str(path),
            "line": 2,
            "code": "invalid_request",
            "rule": "not_an_object",
            "param": None,
            "message": "each line must be a JSON object, not an array.",
        }
    ]
    assert report["requests"] == 2


def test_max_problems_truncates_but_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, *([b"{"] * 10))
    assert main(["validate", str(path), "--max-problems", "3"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5
    assert "7 more problem(s) not shown" in out[3]
    assert "10 problem(s)" in out[4]


def test_missing_file_is_one_clear_line_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["validate", str(missing)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"batchport: error: {missing}: file_not_found: no such file"


@pytest.mark.parametrize("argv", [["--provider", "vertex"], ["--max-problems", "0"]])
def test_bad_options_are_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate", str(tmp_path / "x.jsonl"), *argv])
    assert info.value.code == 2


def test_bad_endpoint_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, orjson.dumps(GOOD))
    assert main(["validate", str(path), "--endpoint", "/v1/nope"]) == 3
    assert "not a batch endpoint" in capsys.readouterr().err


def test_an_internal_error_is_one_line_with_its_own_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchport.cli import EXIT_INTERNAL, validate_cmd

    def broken(args: object) -> int:
        raise ZeroDivisionError("sk-secretsecretsecret leaked into a message")

    monkeypatch.setattr(validate_cmd, "run", broken)
    assert main(["validate", "whatever.jsonl"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.startswith("batchport: internal error: ZeroDivisionError")
    assert "-vv" in err
    assert "Traceback" not in err
    assert "sk-secret" not in err  # a key-like string never reaches the terminal
