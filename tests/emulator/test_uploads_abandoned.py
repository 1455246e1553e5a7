"""Uploads that never finish leave no partial file and no open handle behind."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from conftest import StateFactory

from batchport_emulator import create_app
from batchport_emulator.app.keys import STATE


def parts(root: Path) -> list[Path]:
    return sorted(root.glob("upload-*.part"))


async def test_a_client_gone_mid_upload_leaves_no_part_file(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app({}))
    state = client.app[STATE]
    boundary = "b0undary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + b'{"custom_id": "r0"}\n' * 20_000
    _reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        (
            "POST /v1/files HTTP/1.1\r\n"
            f"Host: {client.server.host}\r\n"
            "Authorization: Bearer sk-test\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) * 10}\r\n\r\n"
        ).encode()
        + head
    )
    await writer.drain()
    for _ in range(100):
        if parts(state.files.root):
            break
        await asyncio.sleep(0.01)
    assert parts(state.files.root)  # the upload is being received
    writer.close()
    await writer.wait_closed()
    for _ in range(200):
        if not parts(state.files.root):
            break
        await asyncio.sleep(0.01)
    assert parts(state.files.root) == []


async def test_a_sink_left_open_by_its_task_is_removed(make_state: StateFactory) -> None:
    state = await make_state()

    async def handler() -> None:
        state.begin_upload().write(b"half an upload")
        raise ConnectionResetError  # whatever the handler did not expect

    task = asyncio.create_task(handler())
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert parts(state.files.root) == []


async def test_stale_part_files_are_removed_at_start_up(
    tmp_path: Path, make_state: StateFactory
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "upload-1234-1.part").write_bytes(b"x" * 100)
    state = await make_state(data_dir=str(tmp_path))
    assert parts(state.files.root) == []


async def test_a_stored_upload_lets_go_of_its_task(make_state: StateFactory) -> None:
    state = await make_state()
    task = asyncio.current_task()
    assert task is not None
    sink = state.begin_upload()
    sink.write(b'{"custom_id": "r0"}\n')
    state.finish_upload(
        sink,
        filename="in.jsonl",
        purpose="batch",
        expires_after_s=None,
        dialect=state.dialects["openai"],
    )
    assert task.remove_done_callback(sink._task_done) == 0  # already let go
