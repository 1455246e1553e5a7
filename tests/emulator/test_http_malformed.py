"""Malformed input is a 400 in the error envelope with an ``x-request-id``: never a 500,
never the parser's own text."""

from __future__ import annotations

import asyncio
import json

import pytest
from emu_jsonl import chat_file
from test_http_api import AUTH, MakeClient, upload

from batchport_emulator.server import Emulator

ODD_DIGITS = ["²", "١٢٣٤", "３６００"]  # isdigit() is true, int() refuses or misreads


@pytest.mark.parametrize("seconds", ODD_DIGITS)
async def test_unicode_digits_in_output_expiry_are_a_400(
    make_client: MakeClient, seconds: str
) -> None:
    client = await make_client()
    file_id = (await (await upload(client, chat_file(1))).json())["id"]
    body = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "output_expires_after": {"anchor": "created_at", "seconds": seconds},
    }
    resp = await client.post("/v1/batches", json=body, headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"]["param"] == "output_expires_after.seconds"


@pytest.mark.parametrize("seconds", ODD_DIGITS)
async def test_unicode_digits_in_upload_expiry_are_a_400(
    make_client: MakeClient, seconds: str
) -> None:
    client = await make_client()
    fields = {"expires_after[anchor]": "created_at", "expires_after[seconds]": seconds}
    resp = await upload(client, chat_file(1), **fields)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["param"] == "expires_after.seconds"
    assert "int()" not in error["message"]


async def test_a_control_character_in_a_part_header_is_a_400(make_client: MakeClient) -> None:
    client = await make_client()
    body = (
        b'--x\r\nContent-Disposition: form-data; name="purpose"\r\nX-Bad: a\x01b\r\n\r\n'
        b"batch\r\n--x--\r\n"
    )
    headers = {**AUTH, "Content-Type": "multipart/form-data; boundary=x"}
    resp = await client.post("/v1/files", data=body, headers=headers)
    assert resp.status == 400
    assert "x-request-id" in resp.headers
    error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert "\\x01" not in error["message"]


async def _raw(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE<script> / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header<script>\r\n\r\n",
        b"GET /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
    ],
)
async def test_parser_errors_carry_the_envelope(request_bytes: bytes) -> None:
    async with Emulator() as emu:
        status, headers, body = await _raw(emu.port, request_bytes)
    assert status == 400
    assert headers["x-request-id"].startswith("req_")
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error["message"].startswith("The HTTP request could not be parsed")
    assert b"<script>" not in body
    assert b"aaaa" not in body
