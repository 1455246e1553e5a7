"""Token counting: a fast deterministic estimate, and reading real ``usage``.

The emulator has no tokenizer; ``estimate_tokens`` approximates one English
BPE tokenizer closely enough for billing and rate-limit arithmetic (about four
characters a token, never fewer tokens than words).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["TokenCounts", "estimate_tokens", "output_text", "usage_tokens"]


class TokenCounts(NamedTuple):
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text``: 0 for "", else at least 1.

    ``max(ceil(chars / 4), words)``, where words are counted by spaces. Pure
    and deterministic, about 100 ns for short strings.
    """
    if not text:
        return 0
    by_chars = (len(text) + 3) >> 2
    by_words = text.count(" ") + 1
    return by_chars if by_chars > by_words else by_words


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _detail(details: Any, key: str) -> int:
    return _int(details.get(key)) if isinstance(details, Mapping) else 0


# Input and output count names, responses shape first; each has a ``*_details`` twin.
_USAGE_KEYS = (("input_tokens", "output_tokens"), ("prompt_tokens", "completion_tokens"))


def usage_tokens(body: Mapping[str, Any]) -> TokenCounts | None:
    """Token counts from a response body's ``usage``, or ``None`` if it has none.

    Understands both shapes: chat/completions/embeddings
    (``prompt_tokens``/``completion_tokens`` with ``*_details``) and responses
    (``input_tokens``/``output_tokens`` with ``*_details``). Missing or
    non-integer values count as 0.
    """
    usage = body.get("usage")
    if not isinstance(usage, Mapping):
        return None
    for input_key, output_key in _USAGE_KEYS:
        if input_key in usage or output_key in usage:
            return TokenCounts(
                _int(usage.get(input_key)),
                _int(usage.get(output_key)),
                _detail(usage.get(f"{input_key}_details"), "cached_tokens"),
                _detail(usage.get(f"{output_key}_details"), "reasoning_tokens"),
            )
    return None


def output_text(body: Mapping[str, Any]) -> str:
    """The generated text in a chat, completion or responses body ("" if none).

    Used to estimate output tokens for bodies that carry no ``usage``.
    """
    parts: list[str] = []
    choices = body.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if not isinstance(choice, Mapping):
                continue
            message = choice.get("message")
            if isinstance(message, Mapping):
                _add_str(parts, message.get("content"))
                _add_str(parts, message.get("refusal"))
                for call in _list(message.get("tool_calls")):
                    function = call.get("function") if isinstance(call, Mapping) else None
                    if isinstance(function, Mapping):
                        _add_str(parts, function.get("arguments"))
            _add_str(parts, choice.get("text"))
    for item in _list(body.get("output")):
        if not isinstance(item, Mapping):
            continue
        _add_str(parts, item.get("arguments"))
        for content in _list(item.get("content")):
            if isinstance(content, Mapping):
                _add_str(parts, content.get("text"))
                _add_str(parts, content.get("refusal"))
    return "\n".join(parts)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _add_str(parts: list[str], value: Any) -> None:
    if isinstance(value, str) and value:
        parts.append(value)
