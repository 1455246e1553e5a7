"""The README's "Webhooks" example runs as printed (on a free port instead of 8765)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import batchport

README = Path(__file__).resolve().parents[2] / "README.md"
SRC = Path(batchport.__file__).resolve().parents[1]
#: a guard against a hang, not a measure: without its webhooks the example would wait
#: ten minutes for its fallback poll
GIVE_UP_S = 120


def webhooks_example() -> str:
    section = README.read_text().split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the Webhooks section has one runnable example"
    return str(blocks[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_webhooks_example_runs_and_every_request_succeeds(tmp_path: Path) -> None:
    code = webhooks_example()
    assert "PORT = 8765" in code and "webhooks=webhooks" in code
    code = code.replace("PORT = 8765", f"PORT = {free_port()}")
    env = {**os.environ, "BATCHPORT_HOME": str(tmp_path / "home")}
    env.pop("BATCHPORT_STORE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True,
        timeout=GIVE_UP_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 rows: succeeded 3;" in done.stdout, done.stdout
