"""The responder seam: what a request looks like, what an answer looks like.

A responder turns one endpoint request body (a batch row or a realtime call)
into the exact synchronous response body the real API would return, plus the
token counts the emulator bills. Implementations: ``FakeResponder``
(deterministic bodies), ``CallableResponder`` (a user function),
``ForwardResponder`` (an OpenAI-compatible server).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = [
    "RespondRequest",
    "RespondResult",
    "Responder",
    "ResponderConfig",
    "ResponderError",
]

_CALLABLE_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True, slots=True)
class RespondRequest:
    """One request to answer.

    ``url`` is the normalized OpenAI path (``/v1/chat/completions``); the forms
    without ``/v1`` that Azure uses are accepted too. ``custom_id`` is set for
    batch rows and ``None`` for realtime calls. ``dialect`` names the API the
    request came through (``"openai"`` or ``"azure"``), so a responder can add
    what that provider's bodies carry (the fake adds Azure's content filters).
    """

    url: str
    body: Mapping[str, Any]
    custom_id: str | None = None
    dialect: str = "openai"


@dataclass(frozen=True, slots=True)
class RespondResult:
    """The answer: an HTTP status and the exact JSON body.

    ``status_code`` is 200, or 4xx/5xx with an OpenAI error envelope body
    (``{"error": {message, type, param, code}}``). Token counts are what the
    request is billed for; ``output_tokens`` includes ``reasoning_tokens``.
    """

    status_code: int
    body: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


class Responder(Protocol):
    """Answers requests; ``aclose`` releases sessions or other resources."""

    async def respond(self, request: RespondRequest) -> RespondResult: ...

    async def aclose(self) -> None: ...


class ResponderError(ValueError):
    """A responder cannot be built from its configuration (bad dotted path,
    missing ``forward_url``, ...). The message names the setting at fault."""


class ResponderConfig(BaseModel):
    """How the emulator answers requests (embedded in the emulator config).

    ``kind`` picks the responder: ``fake`` (deterministic bodies), ``callable``
    (``callable = "package.module:function"``), or ``forward`` (posts each
    request to ``forward_url``, an OpenAI-compatible base URL ending in
    ``/v1``). The remaining fields tune the fake bodies.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: Literal["fake", "callable", "forward"] = "fake"
    seed: int = 0
    callable: str | None = None
    forward_url: str | None = None
    forward_api_key: SecretStr | None = None
    forward_timeout_s: float = Field(default=60.0, gt=0)
    output_words: int = Field(default=12, ge=1, le=4096)
    """Words in a fake plain-text answer (before any max-token cut)."""
    reasoning_tokens: int = Field(default=0, ge=0)
    """Hidden reasoning tokens reported (and billed as output) per answer."""
    array_items: int = Field(default=2, ge=0, le=64)
    """Preferred item count for schema arrays, clamped to minItems/maxItems."""
    schema_max_depth: int = Field(default=8, ge=1, le=64)
    """Nesting depth after which schema generation takes the shortest path."""
    embedding_dimensions: int | None = Field(default=None, ge=1, le=16384)
    """Embedding size when the request gives no ``dimensions``; ``None``
    means the model's native size (3072 for text-embedding-3-large, else 1536)."""

    @field_validator("callable")
    @classmethod
    def _check_callable(cls, value: str | None) -> str | None:
        if value is not None and not _CALLABLE_RE.match(value):
            raise ValueError(f"expected 'package.module:function', got {value!r}")
        return value

    @field_validator("forward_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/") if value is not None else None
