"""The five-step workflow against ``python -m batchport_emulator`` and the batchport CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

ROWS = "".join(
    json.dumps(
        {
            "custom_id": f"p{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "user", "content": "[[emulator:status=429]]" if i == 3 else "hi"}
                ],
            },
        }
    )
    + "\n"
    for i in range(10)
).encode()


def start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on http://127.0.0.1:" in line, line + (
        proc.stderr.read() if proc.stderr else ""
    )
    return proc, line.strip().rsplit(" ", 1)[-1]


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    proc, url = start([*request.param, "--port", "0", "--data-dir", str(tmp_path)])
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize(
    "served",
    [
        [sys.executable, "-m", "batchport_emulator"],
        [sys.executable, "-m", "batchport", "emulator", "serve"],
    ],
    indirect=True,
    ids=["module", "batchport-cli"],
)
def test_five_step_workflow_against_a_served_emulator(served: str) -> None:
    client = OpenAI(
        base_url=served + "/v1", api_key="sk-any", max_retries=0, _strict_response_validation=True
    )
    uploaded = client.files.create(file=("input.jsonl", io.BytesIO(ROWS)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(0.02)
        batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed"
    output = client.files.content(batch.output_file_id or "").text
    errors = client.files.content(batch.error_file_id or "").text
    assert len(output.splitlines()) == 9
    (error_line,) = [json.loads(x) for x in errors.splitlines()]
    assert error_line["custom_id"] == "p3"
    assert error_line["response"]["status_code"] == 429


def test_bad_settings_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"port": "nope"}')
    result = subprocess.run(
        [sys.executable, "-m", "batchport_emulator", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "c.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_data_dir_survives_a_restart(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "batchport_emulator", "--port", "0", "--data-dir", str(tmp_path)]
    proc, url = start(args)
    try:
        client = OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
        file_id = client.files.create(file=("in.jsonl", io.BytesIO(ROWS)), purpose="batch").id
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    proc, url = start(args)
    try:
        client = OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
        assert client.files.content(file_id).content == ROWS
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_server_memory_stays_flat_during_a_big_upload(tmp_path: Path) -> None:
    import psutil

    big = tmp_path / "big.jsonl"
    line = ROWS.splitlines(keepends=True)[0]
    with big.open("wb") as fh:
        fh.write(line * (64_000_000 // len(line)))
    proc, url = start([sys.executable, "-m", "batchport_emulator", "--port", "0"])
    try:
        server = psutil.Process(proc.pid)
        client = OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
        client.files.list()
        before = server.memory_info().rss
        with big.open("rb") as fh:
            uploaded = client.files.create(file=fh, purpose="batch")
        grown = server.memory_info().rss - before
        assert uploaded.bytes == big.stat().st_size
        assert grown < 32_000_000, f"server RSS grew {grown / 1e6:.1f} MB for a 64 MB upload"
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
