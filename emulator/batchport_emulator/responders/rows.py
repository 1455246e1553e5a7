"""Per-request context for the fake responder: seeds, ids and fake content.

Everything a fake body contains is derived from one 64-byte digest of
``(seed, custom_id)`` (batch rows) or ``(seed, canonical body JSON)``
(realtime calls), so the same request always gets the same answer.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Mapping
from typing import Any

import orjson

from .base import ResponderConfig
from .jsonschema_fake import compile_schema
from .prompt import Markers
from .strings import WORDS
from .tokens import estimate_tokens

__all__ = ["MAX_ANSWER_WORDS", "REFUSAL", "Row", "cut_text", "fingerprint"]

REFUSAL = "I'm sorry, but I can't help with that request."
# base64 -> base62-looking ids: map the two symbols onto letters, drop padding.
_B62 = bytes.maketrans(b"+/", b"Qz")
_N_WORDS = len(WORDS)
#: plain-text words in one answer across all its choices (``n``); each choice gets a share
MAX_ANSWER_WORDS = 65_536


def fingerprint(model: str, seed: int) -> str:
    """A stable ``system_fingerprint`` per model and seed (``fp_`` + 10 hex)."""
    return "fp_" + hashlib.blake2b(f"{seed}:{model}".encode(), digest_size=5).hexdigest()


def cut_text(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` (cut at a space when possible) whose
    estimated token count is at most ``max_tokens``."""
    if estimate_tokens(text) <= max_tokens:
        return text
    cut = text[: max(max_tokens, 0) * 4]
    if len(cut) < len(text) and text[len(cut)] != " ":
        # the cut fell inside a word: drop the fragment
        space = cut.rfind(" ")
        cut = cut[:space] if space > 0 else cut
    while cut and estimate_tokens(cut) > max_tokens:
        space = cut.rfind(" ")
        cut = cut[:space] if space > 0 else cut[: len(cut) // 2]
    return cut


class Row:
    """Deterministic material for one answer."""

    __slots__ = (
        "_rng",
        "config",
        "created",
        "custom_id",
        "digest",
        "hex",
        "markers",
        "model",
        "prompt_tokens",
    )

    def __init__(
        self,
        *,
        config: ResponderConfig,
        custom_id: str | None,
        body: Mapping[str, Any],
        created: int,
        markers: Markers | None,
        prompt_tokens: int,
    ) -> None:
        self.config = config
        self.custom_id = custom_id  # None for realtime calls
        if custom_id is not None:
            material = f"{config.seed}\x00{custom_id}".encode()
        else:
            material = str(config.seed).encode() + b"\x01" + _canonical(body)
        self.digest = hashlib.blake2b(material).digest()
        self.hex = self.digest.hex()
        model = body.get("model")
        self.model = model if isinstance(model, str) else "omni-moderation-latest"
        self.created = created
        self.markers = markers
        self.prompt_tokens = prompt_tokens
        self._rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        """A ``random.Random`` seeded from the digest, made on first use."""
        if self._rng is None:
            self._rng = random.Random(int.from_bytes(self.digest[:8], "big"))
        return self._rng

    def hex_id(self, prefix: str, salt: int = 0, length: int = 48) -> str:
        """``prefix`` + hex, e.g. ``resp_`` + 48 hex like real Responses ids."""
        start = (salt * 17) % 64
        text = (self.hex[start:] + self.hex[:start])[:length]
        return prefix + text

    def b62_id(self, prefix: str, salt: int = 0, length: int = 29) -> str:
        """``prefix`` + base62-looking characters (``chatcmpl-``, ``call_``)."""
        start = (salt * 11) % 32
        raw = base64.b64encode(self.digest[start : start + 32]).translate(_B62, b"=")
        return prefix + raw[:length].decode()

    def words(self, count: int, salt: int = 0) -> str:
        """``count`` words of deterministic plain text, capitalized, with a period."""
        digest, out = self.digest, []
        for i in range(count):
            j = i + salt * 7
            out.append(WORDS[(digest[j & 63] + (j >> 6) * 31) % _N_WORDS])
        if not out:
            return ""
        out[0] = out[0].capitalize()
        return " ".join(out) + "."

    def schema_json(self, schema: Any, share: int = 1) -> str:
        """Compact JSON text valid against ``schema`` (``share``: see
        :meth:`~.jsonschema_fake.SchemaFaker.generate`)."""
        cfg = self.config
        faker = compile_schema(schema, array_items=cfg.array_items, max_depth=cfg.schema_max_depth)
        return orjson.dumps(faker.generate(self.rng, share)).decode()

    def json_object(self, salt: int = 0) -> str:
        """A small JSON object, for ``response_format: {"type": "json_object"}``."""
        return orjson.dumps({"answer": self.words(self.config.output_words, salt)}).decode()


def _canonical(body: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return repr(body).encode()
