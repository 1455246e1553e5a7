"""Fake bodies for ``/v1/embeddings`` and ``/v1/moderations``.

Embedding vectors depend only on (seed, model, input), not on the row, so the
same text always embeds to the same unit vector, as with a real model.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .base import RespondResult
from .prompt import find_markers, input_texts
from .rows import Row
from .tokens import estimate_tokens

__all__ = ["embeddings", "moderation"]

_MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
_BASIS_SIZE = 16
_IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "violence",
     "violence/graphic"}
)  # fmt: skip


def _embedding_inputs(value: Any) -> list[tuple[bytes, int]]:
    """(hash material, token count) per input: strings, one token-id list, or
    a list of token-id lists."""
    if isinstance(value, str):
        return [(value.encode(), estimate_tokens(value))]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [(repr(value).encode(), len(value))]
    out: list[tuple[bytes, int]] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            out.append((item.encode(), estimate_tokens(item)))
        elif isinstance(item, list):
            out.append((repr(item).encode(), len(item)))
    return out


@lru_cache(maxsize=16)
def _basis(seed: int, dims: int) -> tuple[tuple[bytes, ...], int]:
    """A few Gaussian unit vectors (little-endian float32 bytes) for ``dims``,
    and the mask selecting every float's sign bit."""
    rng = random.Random(f"{seed}:{dims}")
    vectors = []
    for _ in range(_BASIS_SIZE):
        values = [rng.gauss(0.0, 1.0) for _ in range(dims)]
        norm = math.sqrt(math.fsum(v * v for v in values)) or 1.0
        vectors.append(struct.pack(f"<{dims}f", *(v / norm for v in values)))
    sign_mask = int.from_bytes(b"\x00\x00\x00\x80" * dims, "little")
    return tuple(vectors), sign_mask


def _vector_bytes(material: bytes, seed: int, dims: int) -> bytes:
    """A deterministic unit vector as little-endian float32 bytes.

    Rotating a unit basis vector and flipping the signs of its components
    keeps the norm at 1, and both are whole-buffer operations, so a
    1536-dimension vector costs microseconds rather than a Python loop.
    """
    basis, sign_mask = _basis(seed, dims)
    size = dims * 4
    digest = hashlib.shake_256(material).digest(size + 8)
    pick = int.from_bytes(digest[size:], "little")
    base = basis[pick % _BASIS_SIZE]
    shift = (pick >> 8) % dims * 4
    rotated = base[shift:] + base[:shift]
    flips = int.from_bytes(digest[:size], "little") & sign_mask
    return (int.from_bytes(rotated, "little") ^ flips).to_bytes(size, "little")


def _dimensions(row: Row, body: Mapping[str, Any]) -> int:
    dims = body.get("dimensions")
    if isinstance(dims, int) and not isinstance(dims, bool) and dims > 0:
        return int(dims)
    if row.config.embedding_dimensions is not None:
        return row.config.embedding_dimensions
    return 3072 if "large" in row.model else 1536


def embeddings(row: Row, body: Mapping[str, Any], azure: bool) -> RespondResult:
    """A ``list`` of ``embedding`` objects; ``encoding_format: "base64"`` gives
    little-endian float32 bytes in base64, as the real API (and the SDK's
    default request) does."""
    dims = _dimensions(row, body)
    as_base64 = body.get("encoding_format") == "base64"
    prefix = f"{row.config.seed}\x00{row.model}\x00{dims}\x00".encode()
    data: list[dict[str, Any]] = []
    tokens = 0
    for index, (material, count) in enumerate(_embedding_inputs(body.get("input"))):
        raw = _vector_bytes(prefix + material, row.config.seed, dims)
        tokens += count
        if as_base64:
            encoded: Any = base64.b64encode(raw).decode()
        else:
            encoded = list(struct.unpack(f"<{dims}f", raw))
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    out = {
        "object": "list",
        "data": data,
        "model": row.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return RespondResult(200, out, input_tokens=tokens)


def _moderation_result(row: Row, text: str, index: int, image: bool) -> dict[str, Any]:
    markers = find_markers(text)
    flagged = markers is not None and markers.content_filter
    digest = row.digest
    scores = {}
    for position, name in enumerate(_MODERATION_CATEGORIES):
        scores[name] = (digest[(position + index * 13) & 63] + 1) / 2_560_000
    categories = dict.fromkeys(_MODERATION_CATEGORIES, False)
    if flagged:
        categories["violence"] = True
        scores["violence"] = 0.91
    applied = {
        name: (["text", "image"] if image and name in _IMAGE_CATEGORIES else ["text"])
        for name in _MODERATION_CATEGORIES
    }
    return {
        "flagged": flagged,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    }


def moderation(row: Row, body: Mapping[str, Any], azure: bool) -> RespondResult:
    """A moderation body: one result per input string, or one for a list of
    multimodal parts. ``[[emulator:content_filter]]`` in an input flags it."""
    value = body.get("input")
    texts, _ = input_texts(value)
    if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
        has_image = any(isinstance(v, Mapping) and v.get("type") == "image_url" for v in value)
        results = [_moderation_result(row, "\n".join(texts), 0, has_image)]
    else:
        results = [_moderation_result(row, t, i, False) for i, t in enumerate(texts or [""])]
    model = body.get("model")
    out = {
        "id": row.hex_id("modr-", length=32),
        "model": model if isinstance(model, str) else "omni-moderation-latest",
        "results": results,
    }
    return RespondResult(200, out, input_tokens=row.prompt_tokens)
