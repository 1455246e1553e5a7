"""Fake bodies for Anthropic's ``/v1/messages`` (realtime calls and message batch rows).

The params are checked here, per request, as the real service checks a batch's params
asynchronously: a bad one is a 400 ``invalid_request_error`` envelope, which a batch
turns into an ``errored`` result line. The answer reuses the fake's text, schema and
tool generation (:func:`~.content.plan_content`) and wraps it as a ``Message``: content
blocks, ``stop_reason`` (``end_turn``, ``max_tokens``, ``tool_use``, ``refusal``) and
usage with the cache fields. Markers work as elsewhere: ``status=NNN`` answers that
status in Anthropic's envelope (529 ``overloaded_error``), ``refuse`` stops with
``refusal``, ``truncate`` with ``max_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from batchport_emulator.anthropic.wire import error_envelope

from .base import ResponderConfig, RespondRequest, RespondResult
from .content import Content, ToolPick, plan_content
from .prompt import find_markers, prompt_of
from .rows import Row

__all__ = ["messages_response"]

_ROLES = ("user", "assistant")
_STOP = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}


def _invalid(message: str) -> RespondResult:
    return RespondResult(400, error_envelope(400, message))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_params(body: Mapping[str, Any]) -> str | None:
    """The message of the 400 the Messages API answers for ``body``, or ``None``."""
    for key in ("model", "max_tokens", "messages"):
        if body.get(key) is None:
            return f"{key}: Field required"
    if not isinstance(body["model"], str):
        return "model: Input should be a valid string"
    if not _is_int(body["max_tokens"]):
        return "max_tokens: Input should be a valid integer"
    if body["max_tokens"] < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    messages = body["messages"]
    if not isinstance(messages, list):
        return "messages: Input should be a valid list"
    if not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            return f"messages.{i}: Input should be a valid dictionary"
        if message.get("role") not in _ROLES:
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if not isinstance(message.get("content"), str | list):
            return f"messages.{i}.content: Field required"
    return _check_format(body)


def _check_format(body: Mapping[str, Any]) -> str | None:
    config = body.get("output_config")
    if config is None:
        return None
    if not isinstance(config, Mapping):
        return "output_config: Input should be a valid dictionary"
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        return "output_config.format.type: Input should be 'json_schema'"
    if not isinstance(fmt.get("schema"), Mapping):
        return "output_config.format.schema: Field required"
    return None


def _schema(body: Mapping[str, Any]) -> Any:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else None
    return fmt.get("schema") if isinstance(fmt, Mapping) else None


def _tool_pick(body: Mapping[str, Any]) -> ToolPick | str | None:
    """The tool the fake must use (``tool_choice`` ``any`` or ``tool``), ``None`` for
    text, or the message of a 400 for a ``tool`` choice naming no tool."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if not isinstance(tools, list) or not isinstance(choice, Mapping):
        return None
    named = [t for t in tools if isinstance(t, Mapping) and isinstance(t.get("name"), str)]
    if choice.get("type") == "any" and named:
        return ToolPick(named[0]["name"], named[0].get("input_schema"), named=False)
    if choice.get("type") == "tool":
        for tool in named:
            if tool["name"] == choice.get("name"):
                return ToolPick(tool["name"], tool.get("input_schema"), named=True)
        return f"tool_choice: Tool '{choice.get('name')}' not found in tools"
    return None


def _blocks(row: Row, content: Content) -> tuple[list[dict[str, Any]], str]:
    """The content blocks and the ``stop_reason``."""
    if content.refusal is not None:
        return [], "refusal"
    if content.tool is not None:
        try:
            arguments = orjson.loads(content.arguments or "{}")
        except orjson.JSONDecodeError:  # cut short by truncate: no usable input
            arguments = {}
        block = {
            "type": "tool_use",
            "id": row.b62_id("toolu_01", length=22),
            "name": content.tool.name,
            "input": arguments if isinstance(arguments, dict) else {},
        }
        return [block], "max_tokens" if content.finish == "length" else "tool_use"
    return [{"type": "text", "text": content.text or ""}], _STOP.get(content.finish, "end_turn")


def messages_response(
    config: ResponderConfig, request: RespondRequest, created: int
) -> RespondResult:
    """A ``Message`` body (or an error envelope) for one Messages request."""
    body = request.body
    bad = check_params(body)
    tool = _tool_pick(body) if bad is None else None
    if isinstance(tool, str):
        bad = tool
    if bad is not None:
        return _invalid(bad)
    text, prompt_tokens = prompt_of("/messages", body)
    markers = find_markers(text)
    if markers is not None and markers.status is not None:
        return RespondResult(markers.status, error_envelope(markers.status))
    row = Row(
        config=config,
        custom_id=request.custom_id,
        body=body,
        created=created,
        markers=markers,
        prompt_tokens=prompt_tokens,
    )
    content = plan_content(
        row, schema=_schema(body), tool=tool if isinstance(tool, ToolPick) else None,
        max_tokens=int(body["max_tokens"]),
    )  # fmt: skip
    blocks, stop_reason = _blocks(row, content)
    message = {
        "id": row.b62_id("msg_01", length=22),
        "type": "message",
        "role": "assistant",
        "model": row.model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": content.tokens,
            "service_tier": "batch" if request.custom_id is not None else "standard",
        },
    }
    return RespondResult(200, message, input_tokens=prompt_tokens, output_tokens=content.tokens)
