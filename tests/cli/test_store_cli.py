"""The command line on the shared PostgreSQL store: ``--store URL`` on the run
commands, ``BATCHPORT_STORE``, ``store migrate``, and a URL password that never
reaches the terminal.

Each test gets its own schema on the server of ``BATCHPORT_TEST_POSTGRES`` (see
tests/store/_pg.py: skipped without a server, a failure under ``CI=true``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from store._pg import fresh_schema

import batchport as bp
from batchport.cli import main
from batchport.store.pgschema import MIGRATIONS
from batchport_emulator import EmulatorThread

# The test server trusts local connections, so a password in the URL is accepted and
# unused: enough to prove it is never printed.
CANARY = "pw-canary-5c1e9d"
RUN_COMMANDS = ["run", "submit", "wait", "resume", "cancel", "status", "results", "forget", "runs"]


def _with_password(url: str) -> tuple[str, str]:
    """``url`` with a password in its authority (the canary unless it has one)."""
    parts = urlsplit(url)
    if parts.password:
        return url, parts.password
    user = parts.username or "postgres"
    netloc = f"{user}:{CANARY}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), CANARY


@pytest.fixture
def pg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(url, password)`` of a fresh schema; the environment names no store."""
    monkeypatch.delenv("BATCHPORT_STORE", raising=False)
    monkeypatch.setenv("BATCHPORT_HOME", str(tmp_path / "default-home"))
    with fresh_schema() as url:
        yield _with_password(url)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread() as served:
        yield served


def _input(tmp_path: Path, n: int = 3) -> Path:
    path = tmp_path / "in.jsonl"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    bp.write_requests(path, [bp.Request.build(f"r{i}", "/v1/chat/completions", body)
                             for i in range(n)])  # fmt: skip
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in this process: ``(status, stdout, stderr)``."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _process(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run the command line in a process of its own, as another host would."""
    env = {k: v for k, v in os.environ.items() if k != "BATCHPORT_STORE"}
    env["BATCHPORT_HOME"] = str(tmp_path / "other-home")  # must not be where it looks
    return subprocess.run(
        [sys.executable, "-m", "batchport", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _submit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emu: EmulatorThread, url: str
) -> tuple[str, str, str]:
    """Submit three rows through ``--store``: ``(run id, stdout, stderr)``."""
    code, out, err = _cli(
        capsys, "submit", str(_input(tmp_path)), "--store", url,
        "--emulator-url", emu.url, "--no-progress", "--poll-interval", "0.01",
    )  # fmt: skip
    assert code == 0, err
    return out.splitlines()[-1], out, err


def test_submit_prints_the_id_last_and_other_processes_find_the_run(
    pg: tuple[str, str],
    emu: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, password = pg
    run_id, out, err = _submit(capsys, tmp_path, emu, url)
    assert f"run id: {run_id}" in err  # the generated id, alone on stdout's last line
    assert f"`batchport wait {run_id} --store URL` collects them" in out
    seen = [out, err]

    waited = _process(tmp_path, "wait", run_id, "--store", url, "--no-progress")
    assert waited.returncode == 0, waited.stderr
    assert "succeeded 3" in waited.stdout
    status = _process(tmp_path, "-vv", "status", run_id, "--store", url)
    assert status.returncode == 0, status.stderr
    assert f"run {run_id}: done (emulator, 3 rows)" in status.stdout
    assert "outcomes: succeeded 3" in status.stdout
    results = tmp_path / "results.jsonl"
    written = _process(tmp_path, "results", run_id, "--store", url, "-o", str(results))
    assert written.returncode == 0, written.stderr
    assert len(results.read_text(encoding="utf-8").splitlines()) == 3
    for done in (waited, status, written):
        seen += [done.stdout, done.stderr]

    assert not [text for text in seen if password in text]


def test_status_and_runs_never_show_the_password(
    pg: tuple[str, str],
    emu: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, password = pg
    run_id, *_ = _submit(capsys, tmp_path, emu, url)
    for argv in (["status", run_id], ["runs"], ["status", "no-such-run"]):
        code, out, err = _cli(capsys, *argv, "--store", url)
        assert password not in out + err
        if argv[-1] == "no-such-run":
            assert code == 3
            assert f"{urlsplit(url).username}:***@" in err  # the store is named, redacted
        else:
            assert code == 0
            assert run_id in out


def test_a_password_given_as_a_parameter_is_redacted_too(
    pg: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, password = pg
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), ("password", password)])
    netloc = parts.netloc.replace(f":{password}@", "@")
    code, out, err = _cli(
        capsys, "status", "no-such-run", "--store", urlunsplit(parts._replace(netloc=netloc,
                                                                              query=query))
    )  # fmt: skip
    assert code == 3
    assert "password=***" in err
    assert password not in out + err


def test_run_cancel_and_forget_through_the_store(
    pg: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, password = pg
    src = str(_input(tmp_path))
    code, out, err = _cli(capsys, "run", src, "--store", url, "--run-id", "whole",
                          "--no-progress", "--poll-interval", "0.01")  # fmt: skip
    assert code == 0, err
    assert "succeeded 3" in out
    slow = {"progression": {"kind": "throughput", "requests_per_s": 0.5, "cancelling_s": 0.0}}
    with EmulatorThread(slow) as served:
        code, _, err = _cli(capsys, "submit", src, "--store", url, "--run-id", "stopped",
                            "--emulator-url", served.url, "--no-progress",
                            "--poll-interval", "0.01")  # fmt: skip
        assert code == 0, err
        code, out, err = _cli(capsys, "cancel", "stopped", "--store", url, "--no-progress")
        assert code == 0, err
        assert "cancelled" in out
    for run_id in ("whole", "stopped"):
        code, out, err = _cli(capsys, "forget", run_id, "--store", url)
        assert code == 0, err
        assert password not in out + err
    assert _cli(capsys, "runs", "--store", url)[1] == ""


def test_the_environment_chooses_the_store_unless_a_flag_does(
    pg: tuple[str, str],
    emu: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = pg
    run_id, *_ = _submit(capsys, tmp_path, emu, url)
    monkeypatch.setenv("BATCHPORT_STORE", url)
    code, out, _ = _cli(capsys, "runs")
    assert code == 0
    assert run_id in out
    code, out, _ = _cli(capsys, "runs", "--home", str(tmp_path / "empty"))  # beats the variable
    assert code == 0
    assert out == ""


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_every_run_command_takes_store_or_home_not_both(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["FILE"] if command in ("run", "submit") else [] if command == "runs" else ["RUN"]
    with pytest.raises(SystemExit) as stopped:
        main([command, *target, "--home", "DIR", "--store", "postgresql://u@h/db"])
    assert stopped.value.code == 2
    assert "--store: not allowed with argument --home" in capsys.readouterr().err


@pytest.mark.parametrize(
    "value", ["/var/lib/batchport", f"mysql://u:{CANARY}@h/db", "sqlite:///x.db", ""]
)
def test_store_takes_only_a_postgresql_url(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["status", "RUN", "--store", value])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "postgresql://USER@HOST[:PORT]/DATABASE[?schema=NAME]" in err
    assert "--home DIR" in err
    assert CANARY not in err


def test_an_unreachable_server_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"postgresql://postgres:{CANARY}@127.0.0.1:1/test?connect_timeout=2"
    for argv in (["runs", "--store", url], ["store", "migrate", "--store", url]):
        code, out, err = _cli(capsys, *argv)
        assert code == 3
        assert err.startswith("batchport: error: cannot open the run store postgresql://")
        assert CANARY not in out + err


def test_store_migrate_prints_the_version_before_and_after(
    pg: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, password = pg
    latest = len(MIGRATIONS)
    code, out, err = _cli(capsys, "store", "migrate", "--store", url)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("run store postgresql://")
    assert lines[1:] == [
        "schema version before: 0 (no tables yet)",
        f"schema version after:  {latest}",
    ]
    monkeypatch.setenv("BATCHPORT_STORE", url)  # the variable serves as well as the flag
    code, out, err = _cli(capsys, "store", "migrate")
    assert code == 0, err
    assert out.splitlines()[1:] == [
        f"schema version before: {latest}",
        f"schema version after:  {latest} (up to date)",
    ]
    assert password not in out + err


def test_store_migrate_refuses_a_newer_schema(
    pg: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    from batchport.store.pgschema import split_url

    url, password = pg
    assert _cli(capsys, "store", "migrate", "--store", url)[0] == 0
    conninfo, schema = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute(f"UPDATE \"{schema}\".meta SET value='999' WHERE key='schema_version'")
    code, out, err = _cli(capsys, "store", "migrate", "--store", url)
    assert code == 3
    assert "schema version 999" in err
    assert "Upgrade batchport" in err
    assert password not in out + err


def test_store_migrate_needs_a_postgresql_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCHPORT_STORE", str(tmp_path / "a-directory"))
    code, _, err = _cli(capsys, "store", "migrate")
    assert code == 3
    assert "store migrate works on a PostgreSQL store" in err
    assert "postgresql://USER@HOST" in err


def test_store_help_loads_neither_the_store_nor_psycopg() -> None:
    code = (
        "import contextlib, io, sys\n"
        "from batchport.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['store', 'migrate', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('batchport.store', 'psycopg'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
