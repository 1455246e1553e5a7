"""Batch rows of huge embeddings (2048 inputs x 3072 dimensions, ~130 MB of JSON a
line) are answered, serialized and written without blocking the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import StateFactory, store_upload
from test_http_api import AUTH, MakeClient

from batchport_emulator import processing
from batchport_emulator.batch_params import CreateParams
from batchport_emulator.lifecycle import Status
from batchport_emulator.responders import FakeResponder, RespondRequest
from batchport_emulator.responders.serialize import body_weight, dumps_body, dumps_spliced

_INPUTS = 2048
_DIMS = 3072


def _row(i: int, encoding: str) -> bytes:
    body = {
        "model": "text-embedding-3-large",
        "input": [f"row {i} text {j}" for j in range(_INPUTS)],
        "encoding_format": encoding,
    }
    line = {"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings", "body": body}
    return orjson.dumps(line) + b"\n"


async def test_huge_embedding_rows_do_not_block_the_loop(
    make_state: StateFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # where each result line is serialized: heavy ones must be off the loop's thread
    threads: list[tuple[int, bool]] = []
    real = processing.dumps_pieces

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append((threading.get_ident(), threading.current_thread() is loop_thread))
        return real(*args, **kwargs)

    loop_thread = threading.current_thread()
    monkeypatch.setattr(processing, "dumps_pieces", recording)
    state = await make_state(seed=1)
    data = _row(0, "float") + _row(1, "base64") + _row(2, "float")
    params = CreateParams(
        input_file_id=store_upload(state, data),
        endpoint="/v1/embeddings",
        completion_window="24h",
        metadata=None,
        output_expires_after_s=None,
    )
    batch = state.create_batch(params, dialect=state.dialects["openai"])
    await state.processor.drain()
    assert batch.status is Status.COMPLETED
    assert (batch.counts.completed, batch.counts.failed) == (3, 0)
    assert batch.output_file_id is not None
    path = Path(state.files.downloadable_path(batch.output_file_id))
    lines = await asyncio.to_thread(lambda: path.read_bytes().splitlines())
    assert len(lines) == 3
    for raw in lines:
        line = orjson.loads(raw)
        body = line["response"]["body"]
        assert len(body["data"]) == _INPUTS
        first = body["data"][0]["embedding"]
        assert len(first) == _DIMS if isinstance(first, list) else len(first) == _DIMS * 16 // 3
        assert body["usage"]["prompt_tokens"] > 0
    # every heavy line was built on a worker thread, never on the loop's (serialized on
    # the loop, one such row held every other client for over a second)
    assert threads, "the heavy rows were not serialized piece by piece"
    assert not any(on_loop for _, on_loop in threads)


def test_spliced_serialization_equals_one_dumps() -> None:
    fake = FakeResponder()
    body = {"model": "text-embedding-3-small", "input": ["a", "b", "c"], "dimensions": 8}
    answer = fake.respond_now(RespondRequest("/v1/embeddings", body, custom_id="x")).body
    assert b"".join(dumps_body(answer)) == orjson.dumps(answer)
    assert body_weight(answer) == 24

    def frame(inner: object) -> bytes:
        return orjson.dumps({"custom_id": "x", "response": {"body": inner}, "error": None})

    assert dumps_spliced(answer, frame) == frame(answer)
    # a frame that rewrites the body is serialized whole
    assert dumps_spliced(answer, lambda b: orjson.dumps({**b, "data": 1})) == orjson.dumps(
        {**answer, "data": 1}
    )


async def test_a_huge_realtime_embedding_streams_whole(make_client: MakeClient) -> None:
    client = await make_client()
    body = {"model": "text-embedding-3-large", "input": [f"t{j}" for j in range(_INPUTS)]}
    resp = await client.post("/v1/embeddings", json={**body, "encoding_format": "float"},
                             headers=AUTH)  # fmt: skip
    assert resp.status == 200
    assert resp.content_type == "application/json"
    answer = orjson.loads(await resp.read())
    assert [d["index"] for d in answer["data"]] == list(range(_INPUTS))
    assert all(len(d["embedding"]) == _DIMS for d in answer["data"])
    assert answer["usage"]["prompt_tokens"] > 0
