"""Secrets inside URLs reach neither the terminal nor the run store: a store URL whose
password holds an unescaped '/', '?' or '@', and an endpoint carrying a key in its
query string (``?api-key=...``), at any verbosity."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from store._pg import fresh_schema

import batchport as bp
from batchport.cli import main
from batchport.logs import redact_url
from batchport.runner.api import _from_env, _stored
from batchport_emulator import EmulatorThread

ROOT = Path(__file__).resolve().parents[2]
SECRET = "PWSECRET7c4e"
# the password shapes a URL parser and libpq read differently
STORE_URLS = [
    f"postgresql://u:PWa/b-{SECRET}@127.0.0.1:1/db",
    f"postgresql://u:PWa?b-{SECRET}@127.0.0.1:1/db",
    f"postgresql://u:PW@@{SECRET}@127.0.0.1:1/db",
]


@pytest.fixture(scope="module")
def served() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emu:
        yield emu


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    bp.write_requests(path, [bp.Request.build(f"r{i}", "/v1/chat/completions", body)
                             for i in range(3)])  # fmt: skip
    return path


def _process(tmp_path: Path, *argv: str, **env: str) -> str:
    """Run the command line in a process of its own: what it printed."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "BATCHPORT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "batchport", *argv],
        env={**base, "BATCHPORT_HOME": str(tmp_path / "home"), **env},
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stdout + done.stderr


def _stored_bytes(home: Path) -> bytes:
    """Every byte the run store wrote under ``home`` (database, journal, blobs)."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


@pytest.mark.parametrize("url", STORE_URLS)
def test_a_store_url_with_an_unescaped_password_never_shows_it(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["runs", "--store", url], ["store", "migrate", "--store", url]):
        assert main(argv) == 3
        out, err = capsys.readouterr()
        assert "cannot open the run store postgresql://***@127.0.0.1:1/db" in err
        assert "special characters in the password must be percent-encoded" in err
        assert SECRET not in out + err and "PWa" not in out + err
    printed = _process(tmp_path, "-vv", "runs", BATCHPORT_STORE=url)
    assert "must be percent-encoded" in printed
    assert SECRET not in printed and "PWa" not in printed


def test_a_percent_encoded_password_opens_the_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the test server trusts local connections: any password is accepted, and unused
    monkeypatch.delenv("BATCHPORT_STORE", raising=False)
    password = f"PWa/b?c@d#e:{SECRET}"
    with fresh_schema() as url:
        parts = urlsplit(url)
        user = parts.username or "postgres"
        host = f"{user}:{quote(password, safe='')}@{parts.hostname}:{parts.port or 5432}"
        assert main(["runs", "--store", urlunsplit(parts._replace(netloc=host))]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err


def test_an_endpoint_key_in_the_query_is_never_printed_nor_stored(tmp_path: Path) -> None:
    printed = _process(
        tmp_path, "-vv", "run", str(_input(tmp_path)), "--backend", "azure",
        "--deployment", "gpt-4o-mini=d", "--no-progress", "-o", str(tmp_path / "out.jsonl"),
        AZURE_OPENAI_API_KEY="x", AZURE_OPENAI_ENDPOINT=f"https://127.0.0.1:1/?api-key={SECRET}",
    )  # fmt: skip
    assert "run id:" in printed
    assert SECRET not in printed
    stored = _stored_bytes(tmp_path / "home")
    assert b'"endpoint":"https://127.0.0.1:1/"' in stored  # the run still names it
    assert SECRET.encode() not in stored


def test_an_emulator_url_token_is_never_printed_nor_stored(
    served: EmulatorThread, tmp_path: Path
) -> None:
    printed = _process(
        tmp_path, "-vv", "run", str(_input(tmp_path)), "--emulator-url",
        f"{served.url}/?token={SECRET}&sig={SECRET}", "--no-progress",
        "-o", str(tmp_path / "out.jsonl"),
    )  # fmt: skip
    assert "HTTP Request" in printed  # the HTTP library did log the URL it used
    assert SECRET not in printed
    assert SECRET.encode() not in _stored_bytes(tmp_path / "home")


def test_an_ordinary_url_is_recorded_as_given_and_resume_uses_it(
    served: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    argv = ["submit", str(_input(tmp_path)), "--home", home, "--emulator-url", served.url,
            "--no-progress", "--poll-interval", "0.01"]  # fmt: skip
    assert main(argv) == 0
    run_id = capsys.readouterr().out.splitlines()[-1]
    with bp.open_run(run_id, home=home) as r:
        assert r.store.get_run(run_id).backend_settings == f'{{"url":"{served.url}"}}'
    assert main(["resume", run_id, "--home", home, "--no-progress", "-o", "-"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_a_recorded_url_gets_its_secrets_again_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = f"https://u:{SECRET}@res.example/?api-version=1&api-key={SECRET}"
    recorded = _stored({"endpoint": given, "deployments": {"m": "d"}})
    assert recorded == {
        "endpoint": "https://u:***@res.example/?api-version=1",
        "deployments": {"m": "d"},
    }
    assert recorded["endpoint"] == redact_url(given, drop=True)
    assert _from_env(recorded["endpoint"]) == recorded["endpoint"]  # not in the environment
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", given)
    assert _from_env(recorded["endpoint"]) == given
    assert _from_env("https://res.example/") == "https://res.example/"  # another URL
