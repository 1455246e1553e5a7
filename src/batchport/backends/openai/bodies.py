"""What a 2xx OpenAI body says: the verdict (refusal, truncation, content filter) and
the model's output text, for chat completions, legacy completions and responses.

Bodies are parsed JSON, so objects are ``dict`` s: checking for ``dict`` rather than
``Mapping`` keeps this per-row code cheap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchport.backends.models import Outcome, RowError

__all__ = ["judge_success", "output_text"]

_FILTERED = RowError("content_filter", "output was content-filtered")


def judge_success(body: Mapping[str, Any]) -> tuple[Outcome, RowError | None]:
    """The outcome of a 2xx body, with why it is not ``SUCCEEDED`` when it is not."""
    choices = body.get("choices")
    if type(choices) is list and choices and type(choices[0]) is dict:
        return _judge_choice(choices[0])
    if body.get("object") == "response":
        return _judge_response(body)
    return Outcome.SUCCEEDED, None


def _judge_choice(choice: Mapping[str, Any]) -> tuple[Outcome, RowError | None]:
    reason = choice.get("finish_reason")
    message = choice.get("message")
    if type(message) is dict and message.get("refusal"):
        return Outcome.REFUSED, RowError("refusal", str(message["refusal"]))
    if reason == "length":
        return Outcome.TRUNCATED, RowError("length", "output hit the token limit")
    if reason == "content_filter":
        return Outcome.CONTENT_FILTERED, _FILTERED
    return Outcome.SUCCEEDED, None


def _judge_response(body: Mapping[str, Any]) -> tuple[Outcome, RowError | None]:
    for item in body.get("output") or ():
        if type(item) is not dict:
            continue
        for part in item.get("content") or ():
            if type(part) is dict and part.get("type") == "refusal":
                return Outcome.REFUSED, RowError("refusal", str(part.get("refusal", "")))
    if body.get("status") == "incomplete":
        details = body.get("incomplete_details")
        reason = details.get("reason") if type(details) is dict else None
        if reason == "content_filter":
            return Outcome.CONTENT_FILTERED, _FILTERED
        return Outcome.TRUNCATED, RowError(str(reason or "incomplete"), "incomplete output")
    return Outcome.SUCCEEDED, None


def output_text(body: Mapping[str, Any] | None) -> str | None:
    """The model's output text: a chat message's content, a legacy completion's
    ``text``, or a response's ``output_text`` parts joined. None when there is none."""
    if not body:
        return None
    choices = body.get("choices")
    if type(choices) is list and choices and type(choices[0]) is dict:
        msg = choices[0].get("message")
        if type(msg) is dict and isinstance(msg.get("content"), str):
            return str(msg["content"])
        text = choices[0].get("text")
        return text if isinstance(text, str) else None
    parts: list[str] = []
    for item in body.get("output") or ():
        if type(item) is dict and item.get("type") == "message":
            for part in item.get("content") or ():
                if type(part) is dict and part.get("type") == "output_text":
                    parts.append(str(part.get("text", "")))
    return "".join(parts) if parts else None
