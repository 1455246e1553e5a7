"""What the fake assistant says: text, JSON, a tool call or a refusal, and
how it ends (stop, length, content_filter, tool_calls)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .rows import MAX_ANSWER_WORDS, REFUSAL, Row, cut_text
from .tokens import estimate_tokens

__all__ = [
    "Content",
    "ToolPick",
    "azure_filter_results",
    "azure_prompt_filter_results",
    "chat_tool_pick",
    "plan_content",
    "responses_tool_pick",
]

Finish = Literal["stop", "length", "content_filter", "tool_calls"]
_EMPTY_PARAMS: dict[str, Any] = {"type": "object", "properties": {}}
_SEVERITIES = ("hate", "self_harm", "sexual", "violence")


@dataclass(frozen=True, slots=True)
class ToolPick:
    """The function the fake must call; ``named`` when ``tool_choice`` named it
    (the real API then ends with ``stop`` rather than ``tool_calls``)."""

    name: str
    parameters: Any
    named: bool


@dataclass(frozen=True, slots=True)
class Content:
    text: str | None
    refusal: str | None
    tool: ToolPick | None
    arguments: str | None
    finish: Finish
    tokens: int


def plan_content(
    row: Row,
    *,
    schema: Any = None,
    json_object: bool = False,
    tool: ToolPick | None = None,
    max_tokens: int | None = None,
    salt: int = 0,
    share: int = 1,
) -> Content:
    """Decide one answer. Markers win over everything else: ``refuse`` gives a
    refusal; ``truncate`` and ``content_filter`` cut the output roughly in
    half (so structured JSON is left invalid). Otherwise the output is cut to
    ``max_tokens`` with finish ``length`` when it would exceed it.

    ``share`` is the number of choices the answer holds: they split one
    budget of generated words and schema nodes, so ``n`` cannot multiply it."""
    markers = row.markers
    if markers is not None and markers.refuse:
        return Content(None, REFUSAL, None, None, "stop", estimate_tokens(REFUSAL))
    if tool is not None:
        params = tool.parameters if isinstance(tool.parameters, Mapping) else _EMPTY_PARAMS
        text = row.schema_json(params, share)
    elif schema is not None:
        text = row.schema_json(schema, share)
    elif json_object:
        text = row.json_object(salt)
    else:
        words = min(row.config.output_words, max(1, MAX_ANSWER_WORDS // max(1, share)))
        text = row.words(words, salt)
    finish: Finish = "stop" if tool is None or tool.named else "tool_calls"
    if markers is not None and (markers.truncate or markers.content_filter):
        text = _half(text, plain=tool is None and schema is None and not json_object)
        finish = "length" if markers.truncate else "content_filter"
    elif max_tokens is not None and estimate_tokens(text) > max_tokens:
        text = cut_text(text, max_tokens)
        finish = "length"
    tokens = estimate_tokens(text)
    if tool is not None:
        return Content(None, None, tool, text, finish, tokens)
    return Content(text, None, None, None, finish, tokens)


def _half(text: str, *, plain: bool) -> str:
    half = max(1, len(text) // 2)
    if plain:
        space = text.rfind(" ", 0, half + 1)
        return text[:space] if space > 0 else text[:half]
    return text[:half]


def azure_filter_results(filtered: bool) -> dict[str, Any]:
    """Azure's per-choice ``content_filter_results``; when ``filtered`` the
    violence category is marked filtered with medium severity."""
    results = {name: {"filtered": False, "severity": "safe"} for name in _SEVERITIES}
    if filtered:
        results["violence"] = {"filtered": True, "severity": "medium"}
    return results


def azure_prompt_filter_results() -> list[dict[str, Any]]:
    """Azure's top-level ``prompt_filter_results`` for an unfiltered prompt."""
    results: dict[str, Any] = azure_filter_results(False)
    results["jailbreak"] = {"filtered": False, "detected": False}
    return [{"prompt_index": 0, "content_filter_results": results}]


def chat_tool_pick(body: Mapping[str, Any]) -> ToolPick | str | None:
    """The forced function of a chat request, ``None`` when the model may
    answer in text, or an error message when ``tool_choice`` names an
    unknown function."""
    return _pick(body, lambda t: t.get("function") if t.get("type") == "function" else None)


def responses_tool_pick(body: Mapping[str, Any]) -> ToolPick | str | None:
    """Like ``chat_tool_pick`` for the Responses API's flat tool shape."""
    return _pick(body, lambda t: t if t.get("type") == "function" else None)


def _pick(body: Mapping[str, Any], function_of: Any) -> ToolPick | str | None:
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not isinstance(tools, list) or not tools or choice in (None, "auto", "none"):
        return None
    functions = []
    for tool in tools:
        spec = function_of(tool) if isinstance(tool, Mapping) else None
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            functions.append(spec)
    if not functions:
        return None
    if choice == "required":
        first = functions[0]
        return ToolPick(first["name"], first.get("parameters"), named=False)
    if isinstance(choice, Mapping):
        wanted = choice.get("name")
        inner = choice.get("function")
        if isinstance(inner, Mapping):
            wanted = inner.get("name")
        for spec in functions:
            if spec["name"] == wanted:
                return ToolPick(spec["name"], spec.get("parameters"), named=True)
        return f"Tool choice '{wanted}' not found in 'tools' parameter."
    return None
