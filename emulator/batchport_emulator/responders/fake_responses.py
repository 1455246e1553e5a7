"""Fake bodies for ``/v1/responses``.

The body echoes the request's settings the way the real API does (text
format, tools, tool_choice, sampling parameters, metadata) and fills every
other field with its default, so the SDK's ``Response`` model, including
``output_text`` and ``parse()``, works on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import RespondResult
from .content import Content, plan_content, responses_tool_pick
from .errors import error_result
from .rows import Row

__all__ = ["response"]


def _text_format(body: Mapping[str, Any]) -> tuple[dict[str, Any], Any, bool]:
    """(echoed ``text`` config, schema or None, json_object flag)."""
    text = body.get("text")
    text = dict(text) if isinstance(text, Mapping) else {}
    fmt = text.get("format")
    if not isinstance(fmt, Mapping):
        fmt = {"type": "text"}
    text["format"] = fmt
    text.setdefault("verbosity", "medium")
    if fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        return text, (schema if schema is not None else {}), False
    return text, None, fmt.get("type") == "json_object"


def _tools(body: Mapping[str, Any]) -> list[Any]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    out: list[Any] = []
    for tool in tools:
        if isinstance(tool, Mapping) and tool.get("type") == "function":
            out.append({"description": None, "parameters": None, "strict": True, **tool})
        else:
            out.append(tool)
    return out


def _output_item(row: Row, content: Content, incomplete: bool) -> dict[str, Any]:
    status = "incomplete" if incomplete else "completed"
    if content.tool is not None:
        return {
            "id": row.hex_id("fc_", salt=2),
            "type": "function_call",
            "status": status,
            "arguments": content.arguments,
            "call_id": row.b62_id("call_", salt=1, length=24),
            "name": content.tool.name,
        }
    if content.refusal is not None:
        part: dict[str, Any] = {"type": "refusal", "refusal": content.refusal}
    else:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": content.text}
    return {
        "id": row.hex_id("msg_", salt=1),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [part],
    }


def _usage(row: Row, output_tokens: int, reasoning: int) -> dict[str, Any]:
    return {
        "input_tokens": row.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": row.prompt_tokens + output_tokens,
    }


def response(row: Row, body: Mapping[str, Any], azure: bool) -> RespondResult:
    """A ``response`` object for ``body`` (already checked)."""
    text_config, schema, json_object = _text_format(body)
    tool = responses_tool_pick(body)
    if isinstance(tool, str):
        return error_result(400, tool, param="tool_choice", code="invalid_value")
    max_tokens = body.get("max_output_tokens")
    content = plan_content(
        row,
        schema=schema,
        json_object=json_object,
        tool=tool,
        max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
    )
    incomplete = content.finish in ("length", "content_filter")
    reason = "max_output_tokens" if content.finish == "length" else "content_filter"
    reasoning = row.config.reasoning_tokens
    output: list[dict[str, Any]] = []
    if reasoning:
        output.append({"id": row.hex_id("rs_", salt=3), "type": "reasoning", "summary": []})
    output.append(_output_item(row, content, incomplete))
    output_tokens = content.tokens + reasoning
    reasoning_config = body.get("reasoning")
    reasoning_config = reasoning_config if isinstance(reasoning_config, Mapping) else {}
    out: dict[str, Any] = {
        "id": row.hex_id("resp_"),
        "object": "response",
        "created_at": row.created,
        "status": "incomplete" if incomplete else "completed",
        "background": False,
        "completed_at": None if incomplete else row.created,
        "error": None,
        "incomplete_details": {"reason": reason} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": row.model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {
            "effort": reasoning_config.get("effort"),
            "summary": reasoning_config.get("summary"),
        },
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": text_config,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": _tools(body),
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": _usage(row, output_tokens, reasoning),
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }
    if azure:
        out["content_filters"] = None
    return RespondResult(
        200,
        out,
        input_tokens=row.prompt_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
    )
