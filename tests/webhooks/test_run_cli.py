"""``batchport run --webhooks-port``: the command serves a receiver for the run."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from batchport.cli import main
from batchport_emulator import EmulatorThread

from .wh_signing import SECRET

#: how long the run may take before the test gives up on it (a guard, not a measure:
#: without a wake-up the run would poll again only after an hour)
GIVE_UP_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _requests(path: Path, n: int) -> Path:
    with path.open("w") as f:
        for i in range(n):
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"row {i}"}]}
            line = {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions"}
            f.write(json.dumps({**line, "body": body}) + "\n")
    return path


def _main_in_thread(argv: list[str]) -> int:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
    thread.start()
    thread.join(GIVE_UP_S)
    assert result, "the run did not finish: no webhook woke it"
    return result[0]


def test_run_with_a_receiver_is_woken_by_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    config: dict[str, Any] = {
        # batches wait a second in the queue: the first poll sees them unfinished
        "progression": {"kind": "throughput", "queue_delay_s": 1.0, "validating_s": 0,
                        "finalizing_s": 0, "requests_per_s": 1000},
        "webhooks": {"urls": [f"http://127.0.0.1:{port}/hooks"], "secret": SECRET},
    }  # fmt: skip
    monkeypatch.setenv("MY_WEBHOOK_SECRET", SECRET)
    with EmulatorThread(config) as emu:
        code = _main_in_thread([
            "run", str(_requests(tmp_path / "in.jsonl", 4)), "--emulator-url", emu.url,
            "--home", str(tmp_path / "home"), "--no-progress", "--max-rows", "2",
            "--webhooks-port", str(port), "--webhooks-path", "/hooks",
            "--webhook-secret-env", "MY_WEBHOOK_SECRET", "--poll-fallback", "3600",
        ])  # fmt: skip
        with urllib.request.urlopen(emu.url + "/_emulator/webhooks", timeout=10) as answer:
            listed = json.load(answer)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"receiving webhooks at http://127.0.0.1:{port}/hooks" in err
    assert "succeeded 4" in out
    assert [d["status"] for d in listed["data"]] == ["delivered", "delivered"]
    assert SECRET.removeprefix("whsec_") not in out + err


def test_a_receiver_without_its_secret_is_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BATCHPORT_WEBHOOK_SECRET", raising=False)
    argv = ["run", str(_requests(tmp_path / "in.jsonl", 1)), "--home", str(tmp_path / "h"),
            "--webhooks-port", "0"]  # fmt: skip
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "$BATCHPORT_WEBHOOK_SECRET" in err and "run id" not in err


def test_poll_fallback_alone_is_a_usage_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["wait", "run-x", "--home", str(tmp_path / "h"), "--poll-fallback", "60"]
    assert main(argv) == 3
    assert "--poll-fallback goes with" in capsys.readouterr().err
