"""``batchport webhooks serve`` in its own process: one line per accepted event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import batchport
from batchport.cli import main

from .wh_signing import OTHER_SECRET, SECRET, openai_event, signed_headers

SRC = Path(batchport.__file__).resolve().parents[1]


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "BATCHPORT_WEBHOOK_SECRET": SECRET}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "-m", "batchport", "webhooks", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:"), first
        yield process, first.split()[-1]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        refused.close()
        return int(refused.code)


def test_serve_prints_each_accepted_event(server: tuple[subprocess.Popen[str], str]) -> None:
    process, url = server
    body = openai_event("batch.expired", "batch_cli")
    now = int(time.time())  # the server checks against its own clock
    assert _post(url, body, signed_headers(body, timestamp=now, secret=OTHER_SECRET)) == 400
    assert _post(url, body, signed_headers(body, timestamp=now)) == 200
    assert _post(url, body, signed_headers(body, timestamp=now)) == 200  # a replay
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert out.splitlines() == ["openai expired batch_cli"]
    assert process.returncode == 143
    assert SECRET.removeprefix("whsec_") not in out + err


def test_serve_without_a_secret_says_where_to_put_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BATCHPORT_WEBHOOK_SECRET", raising=False)
    assert main(["webhooks", "serve", "--port", "0"]) == 3
    assert "BATCHPORT_WEBHOOK_SECRET" in capsys.readouterr().err


def test_serve_with_a_bad_secret_does_not_repeat_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCHPORT_WEBHOOK_SECRET", "whsec_%%not-base64%%")
    assert main(["webhooks", "serve", "--port", "0"]) == 3
    assert "not-base64" not in capsys.readouterr().err
