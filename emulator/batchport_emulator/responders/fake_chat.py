"""Fake bodies for ``/v1/chat/completions`` and ``/v1/completions``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import RespondResult
from .content import (
    Content,
    azure_filter_results,
    azure_prompt_filter_results,
    chat_tool_pick,
    plan_content,
)
from .errors import MAX_N, error_result
from .prompt import input_texts
from .rows import Row, cut_text, fingerprint

__all__ = ["chat_completion", "completion"]


def _max_tokens(body: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _choice_count(body: Mapping[str, Any]) -> int:
    """``n`` (already checked to be 1-128 by ``check_body``), 1 when absent."""
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_N else 1


def _usage(prompt: int, completion: int, reasoning: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_format(body: Mapping[str, Any]) -> tuple[Any, bool]:
    """(schema or None, json_object flag) from ``response_format``."""
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping):
        return None, False
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return (schema if schema is not None else {}), False
    return None, fmt.get("type") == "json_object"


def _message(row: Row, content: Content, index: int) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content.text,
        "refusal": content.refusal,
        "annotations": [],
    }
    if content.tool is not None:
        message["tool_calls"] = [
            {
                "id": row.b62_id("call_", salt=index + 1, length=24),
                "type": "function",
                "function": {"name": content.tool.name, "arguments": content.arguments},
            }
        ]
    return message


def chat_completion(row: Row, body: Mapping[str, Any], azure: bool) -> RespondResult:
    """A ``chat.completion`` body for ``body`` (already checked)."""
    schema, json_object = _chat_format(body)
    tool = chat_tool_pick(body)
    if isinstance(tool, str):
        return error_result(400, tool, param="tool_choice", code="invalid_value")
    max_tokens = _max_tokens(body, "max_completion_tokens", "max_tokens")
    reasoning = row.config.reasoning_tokens
    choices: list[dict[str, Any]] = []
    completion_tokens = 0
    count = _choice_count(body)
    for index in range(count):
        content = plan_content(
            row,
            schema=schema,
            json_object=json_object,
            tool=tool,
            max_tokens=max_tokens,
            salt=index,
            share=count,
        )
        completion_tokens += content.tokens + reasoning
        choice: dict[str, Any] = {
            "index": index,
            "message": _message(row, content, index),
            "logprobs": None,
            "finish_reason": content.finish,
        }
        if azure:
            choice["content_filter_results"] = azure_filter_results(
                content.finish == "content_filter"
            )
        choices.append(choice)
    out: dict[str, Any] = {
        "id": row.b62_id("chatcmpl-"),
        "object": "chat.completion",
        "created": row.created,
        "model": row.model,
        "choices": choices,
        "usage": _usage(row.prompt_tokens, completion_tokens, reasoning * len(choices)),
        "service_tier": "default",
        "system_fingerprint": fingerprint(row.model, row.config.seed),
    }
    if azure:
        out["prompt_filter_results"] = azure_prompt_filter_results()
    return RespondResult(
        200,
        out,
        input_tokens=row.prompt_tokens,
        output_tokens=completion_tokens,
        reasoning_tokens=reasoning * len(choices),
    )


def completion(row: Row, body: Mapping[str, Any], azure: bool) -> RespondResult:
    """A ``text_completion`` body: one choice per prompt and per ``n``.

    ``max_tokens`` defaults to 16 as in the real legacy endpoint, so longer
    fake answers end with ``length``.
    """
    prompts, _ = input_texts(body.get("prompt"))
    prompt_count = max(1, len(prompts))
    max_tokens = _max_tokens(body, "max_tokens") or 16
    markers = row.markers
    choices: list[dict[str, Any]] = []
    completion_tokens = 0
    count = prompt_count * _choice_count(body)
    for index in range(count):
        content = plan_content(row, max_tokens=max_tokens, salt=index, share=count)
        text = content.text if content.text is not None else (content.refusal or "")
        finish = content.finish
        if markers is not None and markers.content_filter:
            finish = "content_filter"
        completion_tokens += content.tokens
        choices.append(
            {"text": cut_text(text, max_tokens), "index": index, "logprobs": None,
             "finish_reason": finish}
        )  # fmt: skip
    out: dict[str, Any] = {
        "id": row.b62_id("cmpl-"),
        "object": "text_completion",
        "created": row.created,
        "model": row.model,
        "choices": choices,
        "usage": _usage(row.prompt_tokens, completion_tokens, 0),
        "system_fingerprint": fingerprint(row.model, row.config.seed),
    }
    if azure:
        for choice in choices:
            choice["content_filter_results"] = azure_filter_results(
                choice["finish_reason"] == "content_filter"
            )
        out["prompt_filter_results"] = azure_prompt_filter_results()
    return RespondResult(200, out, input_tokens=row.prompt_tokens, output_tokens=completion_tokens)
