"""No key, token or URL password reaches the terminal, at any verbosity."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import batchport as bp
from batchport.logs import RedactingFilter, redact_text
from batchport_emulator import EmulatorThread

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-canary-0123456789abcdef"
PASSWORD = "hunter2-canary"


@pytest.fixture(scope="module")
def served() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emu:
        yield emu


def test_a_verbose_cli_run_prints_no_secret(served: EmulatorThread, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    bp.write_requests(
        src,
        [bp.Request.build(f"r{i}", "/v1/chat/completions",
                          {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
         for i in range(3)],
    )  # fmt: skip
    base = str(served.base_url).replace("http://", f"http://user:{PASSWORD}@")
    env = {**os.environ, "OPENAI_API_KEY": KEY + "\n", "OPENAI_BASE_URL": base}
    done = subprocess.run(
        [sys.executable, "-m", "batchport", "-vv", "run", str(src), "--backend", "openai",
         "--home", str(tmp_path / "home"), "--no-progress"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    printed = done.stdout + done.stderr
    assert "HTTP Request" in printed  # the HTTP library did log at this verbosity
    assert KEY not in printed
    assert PASSWORD not in printed
    assert "user:***@" in printed


def test_the_filter_masks_messages_arguments_and_tracebacks() -> None:
    record = logging.LogRecord(
        "httpx", logging.DEBUG, __file__, 1, "auth %s", (f"Bearer {KEY}",), None
    )
    try:
        raise RuntimeError(f"echoed {KEY} from https://u:{PASSWORD}@host/v1")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert KEY not in record.getMessage()
    assert record.exc_text is not None
    assert KEY not in record.exc_text and PASSWORD not in record.exc_text
    assert redact_text(f"https://u:{PASSWORD}@h") == "https://u:***@h"
