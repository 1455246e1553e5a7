"""Start-up stays cheap: what a fresh process imports for ``batchport --help``,
``batchport validate`` and ``BatchBuilder()``.

Each case runs in a new interpreter and reports ``sys.modules`` afterwards; no time is
measured here (benchmarks/bench_startup.py does that). A provider SDK, aiohttp or pydantic
costs a tenth of a second to most of a second to import, so their absence is the
property that keeps these commands quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import batchport

SRC = Path(batchport.__file__).resolve().parents[1]

# Heavy packages no start-up path below may import (the SDKs are imported by the
# backends, aiohttp by the emulator, the runner by the commands that run batches).
SDKS_AND_SERVER = ("openai", "anthropic", "google.genai", "aiohttp", "batchport_emulator")


def _modules_after(code: str) -> set[str]:
    """The module names loaded once ``code`` has run in a fresh interpreter."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import json as _json, sys as _sys
        _sys.__stdout__.write(_json.dumps(sorted(_sys.modules)))
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_import_batchport_loads_only_itself() -> None:
    modules = _modules_after("import batchport")
    assert _loaded(modules, (*SDKS_AND_SERVER, "pydantic", "orjson", "rich")) == []
    assert sorted(m for m in modules if m.startswith("batchport")) == ["batchport"]


def test_builder_needs_no_sdk_and_no_pydantic() -> None:
    modules = _modules_after(
        """
        import batchport
        builder = batchport.BatchBuilder()
        builder.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        builder.responses.create(model="gpt-4o-mini", input="hi", temperature=0.2)
        builder.messages.create(
            model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
        """
    )
    assert _loaded(modules, (*SDKS_AND_SERVER, "pydantic", "batchport.runner")) == []


def test_cli_help_loads_no_command_module() -> None:
    modules = _modules_after(
        """
        import contextlib, io
        from batchport.cli import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main(["--help"])
        """
    )
    heavy = (*SDKS_AND_SERVER, "pydantic", "batchport.runner", "batchport.store", "rich")
    assert _loaded(modules, heavy) == []
    assert not [m for m in modules if m.startswith("batchport.cli.")]


def test_cli_validate_loads_no_sdk(tmp_path: Path) -> None:
    batch = tmp_path / "small.jsonl"
    line = {
        "custom_id": "r1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    }
    batch.write_text(json.dumps(line) + "\n", encoding="utf-8")
    modules = _modules_after(
        f"""
        import contextlib, io
        from batchport.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["validate", {str(batch)!r}]) == 0
        """
    )
    assert _loaded(modules, SDKS_AND_SERVER) == []
    assert "batchport.cli.run_cmd" not in modules
    # it says how the file would be split without loading the runner's engine
    assert "batchport.planning" in modules
    assert _loaded(modules, ("batchport.runner", "batchport.store")) == []


@pytest.mark.parametrize("command", ["runs", "plan", "status"])
def test_run_commands_parse_without_the_runner(command: str) -> None:
    modules = _modules_after(
        f"""
        import contextlib, io
        from batchport.cli import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main([{command!r}, "--help"])
        """
    )
    assert "batchport.cli.run_cmd" in modules
    assert _loaded(modules, (*SDKS_AND_SERVER, "batchport.runner", "batchport.store")) == []
