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
from batchport.store import ShardRecord, ShardState, open_store

from .wh_signing import OTHER_SECRET, SECRET, openai_event, signed_headers

SRC = Path(batchport.__file__).resolve().parents[1]


def _serve(*more: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "BATCHPORT_WEBHOOK_SECRET": SECRET}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "-m", "batchport", "webhooks", "serve", "--port", "0", *more],
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


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    yield from _serve()


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


@pytest.mark.parametrize("value", ["99999", "-1", "http"])
def test_serve_on_a_port_that_is_none_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:  # was an internal error (OverflowError)
        main(["webhooks", "serve", "--port", value])
    assert stop.value.code == 2
    assert "argument --port:" in capsys.readouterr().err


def test_serve_with_a_bad_secret_does_not_repeat_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCHPORT_WEBHOOK_SECRET", "whsec_%%not-base64%%")
    assert main(["webhooks", "serve", "--port", "0"]) == 3
    assert "not-base64" not in capsys.readouterr().err


def test_serve_with_a_store_wakes_the_shard_running_the_batch(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store, _ = open_store(str(home))
    try:
        store.create_run("r", backend="emulator", provider="openai", fingerprint="", options="{}")
        store.add_shard(ShardRecord.planned(
            "r", "s0000", endpoint="/v1/chat/completions", model="m", caller_model="m",
            input_key="r/s0000.jsonl", rows=1, bytes=1, est_tokens=1, content_hash="h",
        ))  # fmt: skip
        store.update_shard("r", "s0000", state=ShardState.SUBMITTING)
        store.update_shard("r", "s0000", state=ShardState.SUBMITTED, job_id="batch_known")
        served = _serve("--home", str(home))
        process, url = next(served)
        now = int(time.time())
        for batch_id, event_id in (("batch_known", "msg_1"), ("batch_unknown", "msg_2")):
            body = openai_event("batch.completed", batch_id)
            headers = signed_headers(body, event_id=event_id, timestamp=now)
            assert _post(url, body, headers) == 200  # unknown batches too: no retries
        forged = openai_event("batch.completed", "batch_known")
        assert _post(url, forged, signed_headers(forged, secret=OTHER_SECRET)) == 400
        assert process.stdout is not None
        # the store is written after the answer: wait for both lines before stopping
        lines = [process.stdout.readline().strip() for _ in range(2)]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        served.close()
        assert out == ""
        assert sorted(lines) == [
            "openai completed batch_known woke r/s0000",
            "openai completed batch_unknown woke nothing",
        ]
        assert SECRET.removeprefix("whsec_") not in "".join(lines) + err
        woken_at = store.get_shard("r", "s0000").woken_at
        assert woken_at is not None and abs(woken_at - now) < 60
    finally:
        store.close()
