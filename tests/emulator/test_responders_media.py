"""Batches (and realtime calls) on the image and video endpoints the Batch API
lists: fake answers in the shapes the official SDK's own types accept."""

from __future__ import annotations

import base64
import io
import json
import struct
import time
import zlib
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types import ImagesResponse, Video

from batchport_emulator import EmulatorThread
from batchport_emulator.responders import FakeResponder, RespondRequest
from batchport_emulator.responders.fake_media import MAX_IMAGES

_MAGIC = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg": b"\xff\xd8\xff",
    "webp": b"RIFF",
    "gif": b"GIF8",
    "svg": b"<svg",
}


@pytest.fixture
def client(batch_emulator: EmulatorThread) -> OpenAI:
    return OpenAI(
        base_url=batch_emulator.base_url,
        api_key="sk-test",
        _strict_response_validation=True,
        max_retries=0,
    )


def _png_ok(raw: bytes) -> None:
    """A well-formed PNG: signature, chunks with good CRCs, pixel data that inflates."""
    assert raw.startswith(_MAGIC["png"])
    pos, kinds, idat = 8, [], b""
    while pos < len(raw):
        (length,) = struct.unpack(">I", raw[pos : pos + 4])
        kind, data = raw[pos + 4 : pos + 8], raw[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", raw[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + data) & 0xFFFFFFFF == crc
        kinds.append(kind)
        idat += data if kind == b"IDAT" else b""
        pos += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    assert len(zlib.decompress(idat)) == 4  # filter byte + one RGB pixel


def test_the_sdk_parses_a_realtime_image_generation(client: OpenAI) -> None:
    answer = client.images.generate(model="gpt-image-1", prompt="a red fox", n=3)
    assert isinstance(answer, ImagesResponse)
    assert answer.data is not None and len(answer.data) == 3
    for image in answer.data:
        assert image.b64_json is not None
        _png_ok(base64.b64decode(image.b64_json))
    assert answer.output_format == "png"
    assert answer.size == "1024x1024"
    assert answer.usage is not None and answer.usage.output_tokens == 3 * 1056


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp", "gif"])
def test_output_format_gives_that_kind_of_picture(client: OpenAI, fmt: Any) -> None:
    answer = client.images.generate(
        model="gpt-image-1", prompt="x", output_format=fmt, quality="low", size="1536x1024"
    )
    assert answer.data is not None and answer.data[0].b64_json is not None
    raw = base64.b64decode(answer.data[0].b64_json)
    assert raw.startswith(_MAGIC[fmt])
    assert answer.output_format == fmt
    assert answer.usage is not None and answer.usage.output_tokens == 408


def test_pictures_decode_with_pillow_when_it_is_installed() -> None:
    image_module = pytest.importorskip("PIL.Image")
    fake = FakeResponder()
    for fmt in ("png", "jpeg", "webp", "gif"):
        body = {"model": "gpt-image-1", "prompt": "x", "output_format": fmt}
        result = fake.respond_now(RespondRequest("/v1/images/generations", body, custom_id="r"))
        picture = image_module.open(
            io.BytesIO(base64.b64decode(result.body["data"][0]["b64_json"]))
        )
        picture.load()
        assert picture.size == (1, 1)


def test_dall_e_honours_response_format_url(client: OpenAI) -> None:
    answer = client.images.generate(model="dall-e-3", prompt="a fox", response_format="url")
    assert answer.data is not None and answer.data[0].url is not None
    assert answer.data[0].revised_prompt == "a fox"
    assert answer.usage is None


def test_image_request_faults_are_400s(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.generate(model="gpt-image-1", prompt="x", n=MAX_IMAGES + 1)
    assert too_many.value.code == "integer_above_max_value"
    with pytest.raises(openai.BadRequestError) as url:
        client.images.generate(model="gpt-image-1", prompt="x", response_format="url")
    assert url.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as blocked:
        client.images.generate(model="gpt-image-1", prompt="x [[emulator:content_filter]]")
    assert blocked.value.code == "moderation_blocked"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/images/generations", {"model": "gpt-image-1"}, "prompt"),
        ("/v1/images/edits", {"model": "gpt-image-1", "prompt": "x"}, "images"),
        ("/v1/images/generations", {"prompt": "x", "size": "big"}, "size"),
        ("/v1/images/generations", {"prompt": "x", "output_format": "bmp"}, "output_format"),
        ("/v1/images/generations", {"model": "dall-e-3", "prompt": "x", "n": 2}, "n"),
        ("/v1/videos", {"model": "sora-2"}, "prompt"),
        ("/v1/videos", {"prompt": "x", "seconds": "5"}, "seconds"),
        ("/v1/videos", {"prompt": "x", "size": "1x1"}, "size"),
    ],
)
def test_bad_media_bodies_are_400s(path: str, body: dict[str, Any], param: str) -> None:
    result = FakeResponder().respond_now(RespondRequest(path, body, custom_id="r"))
    assert result.status_code == 400
    assert result.body["error"]["param"] == param


def test_a_realtime_video_is_queued_and_a_batch_one_completed() -> None:
    fake = FakeResponder()
    body = {"model": "sora-2", "prompt": "waves", "seconds": 8}
    queued = Video.model_validate(fake.respond_now(RespondRequest("/v1/videos", body)).body)
    assert (queued.status, queued.progress, queued.seconds) == ("queued", 0, "8")
    row = fake.respond_now(RespondRequest("/v1/videos", body, custom_id="v1")).body
    done = Video.model_validate(row)
    assert (done.status, done.progress, done.size) == ("completed", 100, "720x1280")
    assert done.expires_at == done.created_at + 24 * 3600
    assert done.id.startswith("video_")


_BODIES: dict[str, Any] = {
    "/v1/images/generations": lambda i: {"model": "gpt-image-1", "prompt": f"p{i}", "n": 2},
    "/v1/images/edits": lambda i: {
        "model": "gpt-image-1",
        "prompt": f"p{i}",
        "images": [{"image_url": "https://example.invalid/a.png"}],
    },
    "/v1/videos": lambda i: {"model": "sora-2", "prompt": f"p{i}", "seconds": "4"},
}


@pytest.mark.parametrize("endpoint", list(_BODIES))
def test_a_batch_on_each_media_endpoint_completes(client: OpenAI, endpoint: Any) -> None:
    rows = 7
    data = "".join(
        json.dumps({"custom_id": f"c{i}", "method": "POST", "url": endpoint,
                    "body": _BODIES[endpoint](i)}) + "\n"
        for i in range(rows)
    ).encode()  # fmt: skip
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h"
    )
    for _ in range(500):
        batch = client.batches.retrieve(batch.id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            break
        time.sleep(0.01)
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (rows, 0)
    assert batch.error_file_id is None
    lines = client.files.content(batch.output_file_id or "").text.splitlines()
    assert len(lines) == rows
    assert sorted(json.loads(line)["custom_id"] for line in lines) == [f"c{i}" for i in range(rows)]
    for line in lines:
        response = json.loads(line)["response"]
        assert response["status_code"] == 200
        if endpoint == "/v1/videos":
            assert Video.model_validate(response["body"]).status == "completed"
        else:
            images = ImagesResponse.model_validate(response["body"])
            assert images.data is not None
            assert len(images.data) == (2 if endpoint.endswith("generations") else 1)
            assert all(base64.b64decode(d.b64_json or "").startswith(_MAGIC["png"])
                       for d in images.data)  # fmt: skip
    if endpoint != "/v1/videos":
        assert batch.usage is not None and batch.usage.output_tokens > 0
