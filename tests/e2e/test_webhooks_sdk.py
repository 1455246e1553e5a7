"""The official openai SDK, against an emulator on a thread, verifies and parses the
webhooks the emulator sends to a receiver on loopback."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from openai import OpenAI

from batchport_emulator import EmulatorThread

SECRET = "whsec_" + base64.b64encode(b"sdk-webhook-key").decode()


class _Inbox:
    def __init__(self) -> None:
        self.items: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = threading.Condition()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[tuple[bytes, dict[str, str]]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.items) >= count, timeout_s)
            return list(self.items)


@pytest.fixture
def inbox() -> Iterator[tuple[str, _Inbox]]:
    box = _Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with box.arrived:
                box.items.append((body, dict(self.headers.items())))
                box.arrived.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", box
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _rows(n: int) -> bytes:
    rows = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}
            for i in range(n)]  # fmt: skip
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _settle(sdk: OpenAI, batch_id: str, status: str, polls: int = 200) -> None:
    """Poll until ``status`` (each poll moves the emulator on), or fail after ``polls``."""
    seen = []
    for _ in range(polls):
        seen.append(sdk.batches.retrieve(batch_id).status)
        if seen[-1] == status:
            return
    pytest.fail(f"{batch_id} never reached {status}: last {seen[-3:]}")


def test_the_sdk_unwraps_completed_and_cancelled_events(inbox: tuple[str, _Inbox]) -> None:
    url, box = inbox
    config = {
        "clock": {"scale": 0},
        "progression": {"kind": "after_polls", "polls": 1},
        "webhooks": {"urls": [url], "secret": SECRET},
    }
    with EmulatorThread(config) as emu, OpenAI(base_url=emu.base_url, api_key="sk-test") as sdk:
        file = sdk.files.create(file=("in.jsonl", io.BytesIO(_rows(2))), purpose="batch")
        done = sdk.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        _settle(sdk, done.id, "completed")
        stopped = sdk.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        sdk.batches.cancel(stopped.id)
        _settle(sdk, stopped.id, "cancelled")
        received = box.wait_for(2)
        events = [sdk.webhooks.unwrap(body, headers, secret=SECRET) for body, headers in received]
        assert [(e.type, e.data.id) for e in events] == [
            ("batch.completed", done.id),
            ("batch.cancelled", stopped.id),
        ]
        assert sdk.batches.retrieve(events[0].data.id).status == "completed"
        body, headers = received[0]
        with pytest.raises(openai.InvalidWebhookSignatureError):
            sdk.webhooks.unwrap(body, headers, secret="whsec_" + base64.b64encode(b"no").decode())
