"""A served emulator does not wait forever on a client: idle connections and trickled
headers are closed, a stalled or trickled body is answered 408 in the dialect's
envelope. Assertions are on what the socket sees, never on elapsed time."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchport_emulator import Emulator
from batchport_emulator.cli import add_arguments, build_config

TINY = 0.2
SAFETY_S = 30.0  # only so a broken server fails the test instead of hanging it


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator({"read_timeout_s": TINY, "api_keys": ["sk-test"]}) as emu:
        yield emu


async def connect(emu: Emulator) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(emu.config.host, emu.port)


def head(emu: Emulator, method: str, path: str, *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{emu.port}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.wait_for(reader.read(65536), SAFETY_S):
            data += chunk
    return data


async def trickle(writer: asyncio.StreamWriter, byte: bytes, *, times: int = 2000) -> None:
    """Send one byte at a time until the server goes away (or ``times`` run out)."""
    with contextlib.suppress(ConnectionError, OSError):
        for _ in range(times):
            if writer.is_closing():
                return
            writer.write(byte)
            await writer.drain()
            await asyncio.sleep(0.02)


def parts(root: Path) -> list[Path]:
    return sorted(root.glob("upload-*.part"))


def status_and_body(raw: bytes) -> tuple[int, dict[str, object]]:
    head_part, _, body = raw.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1])
    return status, json.loads(body)


async def test_an_idle_connection_is_closed(emulator: Emulator) -> None:
    reader, writer = await connect(emulator)
    # a prompt request on the same kind of connection is served as usual
    writer.write(head(emulator, "GET", "/v1/batches", "Authorization: Bearer sk-test"))
    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SAFETY_S)
    assert first.startswith(b"HTTP/1.1 200")
    # then nothing is sent: the server hangs up
    await read_all(reader)
    assert reader.at_eof()
    writer.close()


async def test_a_connection_that_sends_nothing_is_closed(emulator: Emulator) -> None:
    reader, writer = await connect(emulator)
    assert await read_all(reader) == b""
    assert reader.at_eof()
    writer.close()


async def test_trickled_headers_are_cut_off(emulator: Emulator) -> None:
    reader, writer = await connect(emulator)
    writer.write(f"GET /v1/batches HTTP/1.1\r\nHost: 127.0.0.1:{emulator.port}\r\nX-A: ".encode())
    sender = asyncio.create_task(trickle(writer, b"a", times=4000))
    data = await read_all(reader)
    assert reader.at_eof()
    assert not data.startswith(b"HTTP/1.1 200")
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender
    writer.close()


@pytest.mark.parametrize(
    ("path", "auth", "azure"),
    [
        ("/v1/batches", "Authorization: Bearer sk-test", False),
        ("/openai/batches?api-version=2024-10-21", "api-key: sk-test", True),
    ],
)
async def test_a_stalled_json_body_gets_408_in_the_dialects_envelope(
    emulator: Emulator, path: str, auth: str, azure: bool
) -> None:
    reader, writer = await connect(emulator)
    writer.write(
        head(emulator, "POST", path, auth, "Content-Type: application/json", "Content-Length: 500")
        + b'{"input_file_id": '
    )
    await writer.drain()
    raw = await read_all(reader)  # the rest never comes
    status, body = status_and_body(raw)
    assert status == 408
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == "request_timeout"
    assert ("type" in error) is not azure  # OpenAI's envelope has a type, Azure's not
    assert reader.at_eof()  # the unread body cannot be reused: the connection is closed
    writer.close()


async def test_a_trickled_upload_gets_408_and_leaves_no_partial_file(
    emulator: Emulator,
) -> None:
    boundary = "b0undary"
    start = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + b'{"custom_id": "r0"}\n' * 100
    reader, writer = await connect(emulator)
    writer.write(
        head(
            emulator,
            "POST",
            "/v1/files",
            "Authorization: Bearer sk-test",
            f"Content-Type: multipart/form-data; boundary={boundary}",
            f"Content-Length: {len(start) + 1_000_000}",
        )
        + start
    )
    sender = asyncio.create_task(trickle(writer, b"x"))
    raw = await read_all(reader)
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender
    status, body = status_and_body(raw)
    assert status == 408
    assert body["error"]["code"] == "request_timeout"  # type: ignore[index]
    writer.close()
    root: Path = emulator.state.files.root
    for _ in range(500):
        if not parts(root):
            break
        await asyncio.sleep(0.01)
    assert parts(root) == []


def test_the_read_timeout_flag_sets_the_config() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = build_config(parser.parse_args(["--read-timeout", "2.5"]))
    assert config.read_timeout_s == 2.5
    assert build_config(parser.parse_args([])).read_timeout_s == 60.0
    with pytest.raises(ValueError):
        build_config(parser.parse_args(["--read-timeout", "0"]))
