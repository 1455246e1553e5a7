"""``batchport run FILE --backend anthropic|gemini``: chat requests in a file, run on the
emulator's matching dialect with a model map, results under the caller's ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import batchport as bp
from batchport.cli import main
from batchport.requests import Request
from batchport_emulator import EmulatorThread

# backend -> (its key variable, a secret-looking key, the model the chat model maps to)
PROVIDERS = {
    "anthropic": ("ANTHROPIC_API_KEY", "sk-ant-cli-secret", "claude-haiku-4-5"),
    "gemini": ("GEMINI_API_KEY", "gm-cli-secret-key", "gemini-2.5-flash"),
}


def _chat(cid: str) -> Request:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Hi {cid}"}],
            "max_tokens": 300}  # fmt: skip
    return Request(custom_id=cid, url="/v1/chat/completions", body=body)


@pytest.mark.parametrize("backend", sorted(PROVIDERS))
def test_run_a_chat_file_with_a_model_map(
    backend: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env, key, model = PROVIDERS[backend]
    monkeypatch.setenv(env, key)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    src = tmp_path / "in.jsonl"
    ids = ["a:1", "b.2", "c-3"]
    bp.write_requests(src, [_chat(c) for c in ids])
    out = tmp_path / "out.jsonl"
    with EmulatorThread() as emu:
        args = ["run", str(src), "--backend", backend, "--emulator-url", emu.url,
                "--model-map", f"gpt-4o-mini={model}", "--home", str(tmp_path / "h"),
                "--no-progress", "--poll-interval", "0.01", "--output", str(out)]  # fmt: skip
        assert main(args) == 0
        assert [b["dialect"] for b in emu.batches()] == [backend]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["custom_id"] for r in rows) == sorted(ids)
    assert {r["outcome"] for r in rows} == {"succeeded"}
    captured = capsys.readouterr()
    assert key not in captured.out + captured.err


def test_an_unmapped_openai_model_is_refused_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-cli")
    monkeypatch.delenv("BATCHPORT_ANTHROPIC_MODELS", raising=False)
    src = tmp_path / "in.jsonl"
    bp.write_requests(src, [_chat("a")])
    with EmulatorThread() as emu:
        args = ["run", str(src), "--backend", "anthropic", "--emulator-url", emu.url,
                "--home", str(tmp_path / "h"), "--no-progress"]  # fmt: skip
        assert main(args) == 3  # an error, with its message: nothing ran
        assert emu.batches() == []
    err = capsys.readouterr().err
    assert "gpt-4o-mini" in err and "models=" in err
    assert "Traceback" not in err


def test_model_map_goes_with_a_mapping_backend_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    bp.write_requests(src, [_chat("a")])
    args = ["run", str(src), "--backend", "openai", "--model-map", "a=b", "--home",
            str(tmp_path / "h"), "--no-progress"]  # fmt: skip
    assert main(args) != 0
    assert "--model-map goes with --backend anthropic or" in capsys.readouterr().err
