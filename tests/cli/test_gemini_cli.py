"""``batchport run FILE --backend gemini``: chat requests in a file, run on the
emulator's Gemini dialect with a model map, results under the caller's ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import batchport as bp
from batchport.cli import main
from batchport.requests import Request
from batchport_emulator import EmulatorThread


def _chat(cid: str) -> Request:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Hi {cid}"}],
            "max_tokens": 300}  # fmt: skip
    return Request(custom_id=cid, url="/v1/chat/completions", body=body)


def test_run_a_chat_file_on_gemini_with_a_model_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gm-cli-secret-key")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    src = tmp_path / "in.jsonl"
    ids = ["a:1", "b.2", "c-3"]
    bp.write_requests(src, [_chat(c) for c in ids])
    out = tmp_path / "out.jsonl"
    with EmulatorThread() as emu:
        args = ["run", str(src), "--backend", "gemini", "--emulator-url", emu.url,
                "--model-map", "gpt-4o-mini=gemini-2.5-flash", "--home", str(tmp_path / "h"),
                "--no-progress", "--poll-interval", "0.01", "--output", str(out)]  # fmt: skip
        assert main(args) == 0
        assert [b["dialect"] for b in emu.batches()] == ["gemini"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["custom_id"] for r in rows) == sorted(ids)
    assert {r["outcome"] for r in rows} == {"succeeded"}
    captured = capsys.readouterr()
    assert "gm-cli-secret-key" not in captured.out + captured.err
