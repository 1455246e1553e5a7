"""Reading request text: prompt tokens and the ``[[emulator:...]]`` markers.

Markers let a test force a row's outcome from the request text alone:
``[[emulator:status=NNN]]`` (an HTTP error), ``[[emulator:refuse]]``,
``[[emulator:truncate]]`` and ``[[emulator:content_filter]]``. They are looked
for in chat message content (strings or text parts), responses ``input`` and
``instructions``, completions, images and videos ``prompt`` and
embeddings/moderations ``input``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .tokens import estimate_tokens

__all__ = ["MARKER_PREFIX", "PROMPT_PATHS", "Markers", "find_markers", "input_texts", "prompt_of"]

MARKER_PREFIX = "[[emulator:"
_MARKER_RE = re.compile(r"\[\[emulator:(status=(\d{3})|refuse|truncate|content_filter)\]\]")
# Tokens an image part costs at low detail; the fake never looks at pixels.
_IMAGE_TOKENS = 85
# Per-message framing tokens, as in OpenAI's published chat token accounting.
_PER_MESSAGE = 3
#: endpoints whose request text is ``prompt`` (completions, images, videos)
PROMPT_PATHS = frozenset({"/completions", "/images/generations", "/images/edits", "/videos"})


@dataclass(frozen=True, slots=True)
class Markers:
    """Outcome overrides found in a request's text."""

    status: int | None = None
    refuse: bool = False
    truncate: bool = False
    content_filter: bool = False


def find_markers(text: str) -> Markers | None:
    """The markers in ``text``, or ``None`` when there are none.

    A status outside 400-599 is ignored (it could not be an error answer).
    """
    if MARKER_PREFIX not in text:
        return None
    status: int | None = None
    refuse = truncate = content_filter = False
    for whole, code in _MARKER_RE.findall(text):
        if code:
            if status is None and 400 <= int(code) <= 599:
                status = int(code)
        elif whole == "refuse":
            refuse = True
        elif whole == "truncate":
            truncate = True
        else:
            content_filter = True
    if status is None and not (refuse or truncate or content_filter):
        return None
    return Markers(status, refuse, truncate, content_filter)


def _content_text(content: Any, parts: list[str]) -> int:
    """Append the text of a message ``content`` to ``parts``; return extra
    (non-text) tokens such as images."""
    if isinstance(content, str):
        parts.append(content)
        return 0
    extra = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, Mapping):
                continue
            text = part.get("text")
            if isinstance(text, str):
                parts.append(text)
            elif isinstance(part.get("refusal"), str):
                parts.append(part["refusal"])
            elif part.get("type") in ("image_url", "input_image", "image"):
                extra += _IMAGE_TOKENS
    return extra


def _messages_text(messages: list[Any], parts: list[str]) -> int:
    extra = 0
    for message in messages:
        if isinstance(message, str):
            parts.append(message)
            continue
        if not isinstance(message, Mapping):
            continue
        extra += _PER_MESSAGE
        if "content" in message:
            extra += _content_text(message["content"], parts)
        else:
            # responses items without content: function_call_output, function_call
            for key in ("output", "arguments"):
                value = message.get(key)
                if isinstance(value, str):
                    parts.append(value)
    return extra


def prompt_of(path: str, body: Mapping[str, Any]) -> tuple[str, int]:
    """All prompt text of a request joined by newlines, and its estimated
    input tokens. ``path`` is the endpoint path without ``/v1``."""
    parts: list[str] = []
    extra = 0
    if path == "/chat/completions":
        messages = body.get("messages")
        if isinstance(messages, list):
            extra = _messages_text(messages, parts) + _PER_MESSAGE
    elif path == "/messages":  # Anthropic: system (a string or text blocks), then turns
        system = body.get("system")
        if system is not None:
            extra = _content_text(system, parts)
        messages = body.get("messages")
        if isinstance(messages, list):
            extra += _messages_text(messages, parts)
    elif path == "/responses":
        instructions = body.get("instructions")
        if isinstance(instructions, str):
            parts.append(instructions)
        value = body.get("input")
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            extra = _messages_text(value, parts)
    else:
        texts, token_ids = input_texts(body.get("prompt" if path in PROMPT_PATHS else "input"))
        parts = texts
        extra = token_ids
    text = "\n".join(parts) if len(parts) != 1 else parts[0]
    return text, estimate_tokens(text) + extra


def input_texts(value: Any) -> tuple[list[str], int]:
    """Texts of an embeddings/completions/moderations ``input`` (a string, a
    list of strings, token ids, lists of token ids, or moderation parts) and
    the count of pre-tokenized ids among them."""
    if isinstance(value, str):
        return [value], 0
    if not isinstance(value, list):
        return [], 0
    texts: list[str] = []
    token_ids = 0
    for item in value:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, int):
            token_ids += 1
        elif isinstance(item, list):
            token_ids += len(item)
        elif isinstance(item, Mapping) and isinstance(item.get("text"), str):
            texts.append(item["text"])
    return texts, token_ids
