"""Fake bodies for ``/v1/images/generations``, ``/v1/images/edits`` and ``/v1/videos``.

Images come back as the Images API's ``ImagesResponse``: one tiny but valid
picture per ``n`` (a 1x1 PNG whose colour follows the row, or a fixed 1x1
JPEG/WebP/GIF/SVG for ``output_format``), base64 in ``b64_json`` as GPT image
models answer, with their token ``usage``; DALL-E models honour
``response_format: "url"`` and ``dall-e-3`` adds a ``revised_prompt``.
Videos come back as a ``video`` job object: ``completed`` (with assets
downloadable for 24 hours) for batch rows, ``queued`` for realtime calls, as
the synchronous create answers. The emulator never serves the pixels or the
clip themselves.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from ..errors import invalid_type, invalid_value, missing_parameter
from .base import RespondResult
from .rows import Row

__all__ = ["MAX_IMAGES", "image_edit", "image_generation", "video"]

#: images one request may ask for (``n``), as the Images API allows
MAX_IMAGES = 10
_DALLE3_MAX_IMAGES = 1
_DEFAULT_IMAGE_MODEL = "gpt-image-1"
_DEFAULT_VIDEO_MODEL = "sora-2"
_SIZE_RE = re.compile(r"^([1-9]\d{1,4})x([1-9]\d{1,4})$")
_FORMATS = ("png", "jpeg", "webp", "gif", "svg")
# Fixed 1x1 pictures (made once with Pillow); PNG is built per row.
_FIXED: dict[str, bytes] = {
    "webp": base64.b64decode("UklGRh4AAABXRUJQVlA4TBEAAAAvAAAAAAdQyOIVtf+BiOh/AAA="),
    "gif": base64.b64decode("R0lGODdhAQABAIEAAHiQqAAAAAAAAAAAACwAAAAAAQABAAAIBAABBAQAOw=="),
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1">'
    b'<rect width="1" height="1" fill="#7890a8"/></svg>',
}
_JPEG = (
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4n"
    "ICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIy"
    "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAABAAEDASIAAhEBAxEB/8QAHwAAAQUBAQEB"
    "AQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKB"
    "kaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1"
    "dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl"
    "5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcF"
    "BAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5"
    "OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0"
    "tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwC5RRRXccZ/"
    "/9k="
)
_FIXED["jpeg"] = base64.b64decode(_JPEG)
# Output tokens per image of GPT image models at 1024x1024 (scaled by area for
# other sizes), from OpenAI's published image pricing tables.
_IMAGE_TOKENS = {"low": 272, "medium": 1056, "high": 4160}
# Input tokens an edit's source image costs (rough; the fake never reads it).
_SOURCE_IMAGE_TOKENS = 323
_VIDEO_SECONDS = ("4", "8", "12")
_VIDEO_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
_VIDEO_TTL_S = 24 * 3600


def _png(rgb: bytes) -> bytes:
    """A valid 1x1 RGB PNG of colour ``rgb``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" + rgb[:3]))
        + chunk(b"IEND", b"")
    )


def _error(error: Any) -> RespondResult:
    return RespondResult(error.status, error.envelope())


def _model(body: Mapping[str, Any], default: str) -> str:
    model = body.get("model")
    return model if isinstance(model, str) and model else default


def _prompt(body: Mapping[str, Any]) -> RespondResult | str:
    prompt = body.get("prompt")
    if prompt is None:
        return _error(missing_parameter("prompt"))
    if not isinstance(prompt, str):
        return _error(invalid_type("prompt", "a string", prompt))
    return prompt


def _choice(
    body: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str
) -> RespondResult | str:
    value = body.get(key)
    if value is None:
        return default
    if value not in allowed:
        return _error(invalid_value(key, str(value)[:64], allowed))
    return str(value)


def _size(body: Mapping[str, Any]) -> RespondResult | tuple[str, float]:
    """(size text, area relative to 1024x1024)."""
    size = body.get("size")
    if size is None or size == "auto":
        return "1024x1024", 1.0
    match = _SIZE_RE.match(size) if isinstance(size, str) else None
    if match is None:
        return _error(invalid_value("size", str(size)[:64]))
    area = int(match.group(1)) * int(match.group(2)) / (1024 * 1024)
    return size, area


def _count(body: Mapping[str, Any], model: str) -> RespondResult | int:
    n = body.get("n")
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool):
        return _error(invalid_type("n", "an integer", n))
    cap = _DALLE3_MAX_IMAGES if "dall-e-3" in model else MAX_IMAGES
    if n > cap:
        return RespondResult(
            400,
            _envelope(
                f"Invalid 'n': integer above maximum value. Expected a value <= {cap}, "
                f"but got {n} instead.",
                "n",
                "integer_above_max_value",
            ),
        )
    if n < 1:
        return RespondResult(
            400,
            _envelope(
                "Invalid 'n': integer below minimum value. Expected a value >= 1, "
                f"but got {n} instead.",
                "n",
                "integer_below_min_value",
            ),
        )
    return n


def _envelope(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param,
                  "code": code}
    }  # fmt: skip


def _blocked() -> RespondResult:
    """What the Images API answers when its safety system rejects a prompt."""
    return RespondResult(
        400,
        {
            "error": {
                "message": "Your request was rejected by the safety system. If you believe "
                "this is an error, contact us at help.openai.com and include the request ID.",
                "type": "image_generation_user_error",
                "param": None,
                "code": "moderation_blocked",
            }
        },
    )


def _images(row: Row, body: Mapping[str, Any], source_images: int) -> RespondResult:
    prompt = _prompt(body)
    if isinstance(prompt, RespondResult):
        return prompt
    if row.markers is not None and row.markers.content_filter:
        return _blocked()
    model = _model(body, _DEFAULT_IMAGE_MODEL)
    gpt_image = not model.startswith("dall-e")
    count = _count(body, model)
    if isinstance(count, RespondResult):
        return count
    sized = _size(body)
    if isinstance(sized, RespondResult):
        return sized
    size, area = sized
    fmt = _choice(body, "output_format", _FORMATS, "png") if gpt_image else "png"
    if isinstance(fmt, RespondResult):
        return fmt
    response_format = _choice(body, "response_format", ("url", "b64_json"), "")
    if isinstance(response_format, RespondResult):
        return response_format
    if gpt_image and response_format == "url":
        return RespondResult(
            400,
            _envelope(
                f"Invalid value: 'url'. The 'response_format' parameter is not supported "
                f"for {model}, which always returns base64-encoded images (b64_json).",
                "response_format",
                "invalid_value",
            ),
        )
    data: list[dict[str, Any]] = []
    for index in range(count):
        item: dict[str, Any] = {}
        if response_format == "url":
            item["url"] = f"https://images.emulator.invalid/{row.hex_id('img-', index, 32)}.png"
        else:
            raw = _FIXED.get(fmt) or _png(row.digest[index * 3 : index * 3 + 3])
            item["b64_json"] = base64.b64encode(raw).decode()
        if "dall-e-3" in model:
            item["revised_prompt"] = prompt
        data.append(item)
    out: dict[str, Any] = {"created": row.created, "data": data}
    if not gpt_image:
        return RespondResult(200, out)
    quality = body.get("quality")
    quality = quality if quality in _IMAGE_TOKENS else "medium"
    per_image = max(1, round(_IMAGE_TOKENS[str(quality)] * area))
    text_tokens = row.prompt_tokens
    image_tokens = source_images * _SOURCE_IMAGE_TOKENS
    output_tokens = per_image * count
    background = body.get("background")
    out.update(
        background=background if background in ("transparent", "opaque") else "opaque",
        output_format=fmt,
        quality=quality,
        size=size,
        usage={
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
            "output_tokens": output_tokens,
            "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
            "total_tokens": text_tokens + image_tokens + output_tokens,
        },
    )
    return RespondResult(
        200, out, input_tokens=text_tokens + image_tokens, output_tokens=output_tokens
    )


def image_generation(row: Row, body: Mapping[str, Any], azure: bool) -> RespondResult:
    """An ``ImagesResponse`` for ``/v1/images/generations``."""
    return _images(row, body, 0)


def image_edit(row: Row, body: Mapping[str, Any], azure: bool) -> RespondResult:
    """An ``ImagesResponse`` for a JSON ``/v1/images/edits`` body: ``images`` (a
    list of ``{"image_url"}`` or ``{"file_id"}`` references; ``image`` is read
    too) and a ``prompt``."""
    images = body.get("images", body.get("image"))
    if images is None:
        return _error(missing_parameter("images"))
    if isinstance(images, list):
        if not images:
            return _error(invalid_value("images", "[]"))
        sources = len(images)
    elif isinstance(images, (str, Mapping)):
        sources = 1
    else:
        return _error(invalid_type("images", "an array", images))
    return _images(row, body, sources)


def video(row: Row, body: Mapping[str, Any], azure: bool) -> RespondResult:
    """A ``video`` job object for ``/v1/videos`` (JSON bodies only, as in a batch):
    ``completed`` for batch rows, ``queued`` for realtime calls."""
    prompt = _prompt(body)
    if isinstance(prompt, RespondResult):
        return prompt
    if row.markers is not None and row.markers.content_filter:
        return _blocked()
    seconds_value = body.get("seconds")
    if isinstance(seconds_value, int) and not isinstance(seconds_value, bool):
        seconds_value = str(seconds_value)
    seconds = _choice({"seconds": seconds_value}, "seconds", _VIDEO_SECONDS, "4")
    if isinstance(seconds, RespondResult):
        return seconds
    size = _choice(body, "size", _VIDEO_SIZES, "720x1280")
    if isinstance(size, RespondResult):
        return size
    batch_row = row.custom_id is not None
    created = row.created
    out: dict[str, Any] = {
        "id": row.hex_id("video_"),
        "object": "video",
        "model": _model(body, _DEFAULT_VIDEO_MODEL),
        "status": "completed" if batch_row else "queued",
        "progress": 100 if batch_row else 0,
        "created_at": created,
        "completed_at": created if batch_row else None,
        "expires_at": created + _VIDEO_TTL_S if batch_row else None,
        "prompt": prompt,
        "remixed_from_video_id": None,
        "seconds": seconds,
        "size": size,
        "error": None,
    }
    return RespondResult(200, out)
