"""Fake bodies for Gemini's ``generateContent`` (realtime calls and batch rows).

The request is checked here, per request, as the real Batch API reports a bad request
as a failed row (a 400 ``INVALID_ARGUMENT`` google.rpc.Status). The answer reuses the
fake's text and schema generation (:func:`~.content.plan_content`) and wraps it as a
``GenerateContentResponse``: candidates with ``content.parts``, ``finishReason``
(``STOP``, ``MAX_TOKENS``, ``SAFETY``), ``usageMetadata``, ``modelVersion`` and
``responseId``. Structured output follows ``generationConfig.responseMimeType``
``application/json`` with ``responseSchema`` (Gemini's OpenAPI subset, upper-case
types) or ``responseJsonSchema`` (JSON Schema); ``text/x.enum`` answers one enum value.
Markers work as elsewhere: ``status=NNN`` answers that status as a google.rpc.Status,
``refuse`` ends the candidate with ``SAFETY`` and no content, ``content_filter`` blocks
the prompt (``promptFeedback.blockReason``), ``truncate`` ends with ``MAX_TOKENS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from batchport_emulator.gemini.wire import error_body

from .base import ResponderConfig, RespondRequest, RespondResult
from .content import Content, plan_content
from .prompt import find_markers
from .rows import Row
from .tokens import estimate_tokens

__all__ = ["generate_content", "json_schema_of", "model_of_url"]

_ROLES = (None, "user", "model", "function")
_JSON = "application/json"
_ENUM = "text/x.enum"
_MEDIA_TOKENS = 258  # what Gemini counts for one image
_INT_KEYS = frozenset({"minItems", "maxItems", "minLength", "maxLength", "minProperties",
                       "maxProperties"})  # fmt: skip
_DROP_KEYS = frozenset({"propertyOrdering", "property_ordering", "title", "example"})
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
_CATEGORIES = ("HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_DANGEROUS_CONTENT",
               "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_SEXUALLY_EXPLICIT")  # fmt: skip


def _get(body: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = body.get(camel)
    return body.get(snake) if value is None else value


def _invalid(message: str) -> RespondResult:
    return RespondResult(400, error_body(400, message))


def model_of_url(url: str) -> str | None:
    """``gemini-2.5-flash`` from ``/v1beta/models/gemini-2.5-flash:generateContent``."""
    path = url.split("?", 1)[0]
    marker = "/models/"
    start = path.find(marker)
    if start < 0:
        return None
    return path[start + len(marker) :].rpartition(":")[0] or None


def json_schema_of(schema: Any) -> Any:
    """Gemini's ``Schema`` (OpenAPI subset: ``"type": "OBJECT"``, int64 bounds as strings,
    ``propertyOrdering``) as the JSON Schema the fake generates from."""
    if isinstance(schema, list):
        return [json_schema_of(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP_KEYS:
            continue
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key in _INT_KEYS and isinstance(value, str) and value.isdigit():
            out[key] = int(value)
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {name: json_schema_of(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "any_of"):
            out["anyOf" if key == "any_of" else key] = json_schema_of(value)
        else:
            out[key] = value
    return out


def _check_contents(contents: Any) -> str | None:
    if contents is None or contents == []:
        return "* GenerateContentRequest.contents: contents is not specified"
    if not isinstance(contents, list):
        return "Invalid value at 'contents' (type.googleapis.com/Content)"
    for i, content in enumerate(contents):
        if not isinstance(content, Mapping):
            return f"Invalid value at 'contents[{i}]' (type.googleapis.com/Content)"
        if content.get("role") not in _ROLES:
            return "Please use a valid role: user, model."
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return (
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
    return None


def _check_config(config: Any) -> str | None:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        return "Invalid value at 'generation_config' (type.googleapis.com/GenerationConfig)"
    cap = _get(config, "maxOutputTokens", "max_output_tokens")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        return "* GenerateContentRequest.generation_config.max_output_tokens: must be positive"
    count = _get(config, "candidateCount", "candidate_count")
    if count is not None and (not isinstance(count, int) or not 1 <= count <= 8):
        return "* GenerateContentRequest.generation_config.candidate_count: must be in [1, 8]"
    schema = _get(config, "responseSchema", "response_schema")
    json_schema = _get(config, "responseJsonSchema", "response_json_schema")
    if schema is not None and json_schema is not None:
        return "response_schema and response_json_schema cannot both be set."
    mime = _get(config, "responseMimeType", "response_mime_type")
    if (schema is not None or json_schema is not None) and mime not in (_JSON, _ENUM):
        return (
            "* GenerateContentRequest.generation_config.response_mime_type: must be "
            "application/json or text/x.enum when a response schema is set"
        )
    return None


def check_request(body: Mapping[str, Any]) -> str | None:
    """The message of the 400 ``generateContent`` answers for ``body``, or ``None``."""
    return _check_contents(body.get("contents")) or _check_config(
        _get(body, "generationConfig", "generation_config")
    )


def _texts(content: Any, parts_out: list[str]) -> int:
    """Append a content's text parts to ``parts_out``; return tokens of other parts."""
    extra = 0
    parts = content.get("parts") if isinstance(content, Mapping) else None
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Mapping):
            continue
        if isinstance(part.get("text"), str):
            parts_out.append(part["text"])
        elif any(k in part for k in ("inlineData", "inline_data", "fileData", "file_data")):
            extra += _MEDIA_TOKENS
    return extra


def prompt_text(body: Mapping[str, Any]) -> tuple[str, int]:
    """The request's text (system instruction, then every turn) and its prompt tokens."""
    parts: list[str] = []
    extra = _texts(_get(body, "systemInstruction", "system_instruction"), parts)
    contents = body.get("contents")
    for content in contents if isinstance(contents, list) else []:
        extra += _texts(content, parts)
    text = "\n".join(parts)
    return text, estimate_tokens(text) + extra


def _output(config: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The JSON Schema to answer with (or ``None``), and the response mime type."""
    mime = _get(config, "responseMimeType", "response_mime_type")
    json_schema = _get(config, "responseJsonSchema", "response_json_schema")
    if json_schema is None:
        schema = _get(config, "responseSchema", "response_schema")
        json_schema = json_schema_of(schema) if schema is not None else None
    return json_schema, mime if isinstance(mime, str) else None


def _safety(blocked: bool) -> list[dict[str, Any]]:
    ratings: list[dict[str, Any]] = [
        {"category": c, "probability": "NEGLIGIBLE"} for c in _CATEGORIES
    ]
    if blocked:
        ratings[1] = {"category": _CATEGORIES[1], "probability": "HIGH", "blocked": True}
    return ratings


def _candidate(content: Content, index: int, mime: str | None) -> dict[str, Any]:
    if content.refusal is not None:
        return {"finishReason": "SAFETY", "index": index, "safetyRatings": _safety(True)}
    text = content.text or ""
    if mime == _ENUM and content.finish == "stop":
        value = orjson.loads(text) if text else ""
        text = value if isinstance(value, str) else text
    return {
        "content": {"parts": [{"text": text}], "role": "model"},
        "finishReason": _FINISH.get(content.finish, "STOP"),
        "index": index,
    }


def _usage(prompt: int, output: int, thoughts: int) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if output:
        usage["candidatesTokenCount"] = output
    usage["totalTokenCount"] = prompt + output + thoughts
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def generate_content(
    config: ResponderConfig, request: RespondRequest, created: int
) -> RespondResult:
    """A ``GenerateContentResponse`` (or a google.rpc.Status error) for one request."""
    body = request.body
    bad = check_request(body)
    if bad is not None:
        return _invalid(bad)
    text, prompt_tokens = prompt_text(body)
    markers = find_markers(text)
    if markers is not None and markers.status is not None:
        return RespondResult(markers.status, error_body(markers.status))
    model = body.get("model") if isinstance(body.get("model"), str) else model_of_url(request.url)
    version = str(model or "gemini").removeprefix("models/")
    row = Row(config=config, custom_id=request.custom_id, body={**body, "model": version},
              created=created, markers=markers, prompt_tokens=prompt_tokens)  # fmt: skip
    response_id = row.b62_id("", length=22).replace("Q", "-").replace("z", "_")
    thoughts = config.reasoning_tokens
    if markers is not None and markers.content_filter:
        blocked = {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _safety(True)},
            "usageMetadata": _usage(prompt_tokens, 0, 0),
            "modelVersion": version,
            "responseId": response_id,
        }
        return RespondResult(200, blocked, input_tokens=prompt_tokens)
    gen = _get(body, "generationConfig", "generation_config") or {}
    schema, mime = _output(gen)
    count = int(_get(gen, "candidateCount", "candidate_count") or 1)
    cap = _get(gen, "maxOutputTokens", "max_output_tokens")
    contents = [
        plan_content(
            row,
            schema=schema,
            json_object=mime == _JSON and schema is None,
            max_tokens=cap,
            salt=i,
            share=count,
        )
        for i in range(count)
    ]
    output = sum(c.tokens for c in contents)
    answer = {
        "candidates": [_candidate(c, i, mime) for i, c in enumerate(contents)],
        "usageMetadata": _usage(prompt_tokens, output, thoughts),
        "modelVersion": version,
        "responseId": response_id,
    }
    return RespondResult(
        200,
        answer,
        input_tokens=prompt_tokens,
        output_tokens=output + thoughts,
        reasoning_tokens=thoughts,
    )
