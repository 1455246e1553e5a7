"""Structured-output schemas, made strict the way the official SDK makes them.

The JSON schema of an output type is computed once per type (cached) with the SDK's own
``to_strict_json_schema``, so the wire matches what ``client.responses.parse`` or
``client.chat.completions.parse`` would send. Two wire shapes exist:

- chat completions ``response_format``:
  ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``
- responses ``text.format``:
  ``{"type": "json_schema", "name", "schema", "strict": true}``

Anthropic's Messages ``output_config.format`` is ``{"type": "json_schema", "schema"}``,
with the schema rewritten as the ``anthropic`` SDK's ``transform_schema`` rewrites it
(:func:`claude_json_schema`; reproduced here, since importing that SDK takes over a
second and it is an optional extra).

Returned dicts are shared between calls (and between requests): treat them as read-only.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pydantic
from openai.lib._pydantic import is_basemodel_type, is_dataclass_like_type, to_strict_json_schema

from batchport.errors import InputError

__all__ = [
    "chat_response_format",
    "claude_json_schema",
    "is_output_type",
    "messages_output_format",
    "responses_text_format",
    "schema_name",
    "strict_json_schema",
]

_NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def is_output_type(value: object) -> bool:
    """Whether ``value`` is a type the SDK accepts as an output format (pydantic model or
    pydantic dataclass)."""
    return isinstance(value, type) and (is_basemodel_type(value) or is_dataclass_like_type(value))


def schema_name(output_type: type) -> str:
    """The schema ``name`` sent on the wire: the class name, as the SDK sends it.

    The API only takes names matching ``[A-Za-z0-9_-]{1,64}``; a name outside that
    (``Page[Item]`` from a generic model) has its other characters replaced by ``_``,
    where the SDK would send it as is and have the request refused.
    """
    name = output_type.__name__
    if _NAME_OK.match(name):
        return name
    return _NAME_BAD_CHARS.sub("_", name).strip("_")[:64] or "output"


def _check(output_type: object) -> type:
    if not is_output_type(output_type):
        raise InputError(
            f"output format must be a pydantic model class (or pydantic dataclass), "
            f"got {output_type!r}",
            rule="invalid_request",
        )
    assert isinstance(output_type, type)
    return output_type


def strict_json_schema(output_type: type) -> dict[str, Any]:
    """The strict JSON schema of ``output_type``, computed once per type.

    Raises:
        InputError: ``output_type`` is not a pydantic model or pydantic dataclass, or its
            schema cannot be generated.
    """
    return _strict_schema(_check(output_type))


@functools.cache
def _strict_schema(output_type: type) -> dict[str, Any]:
    target: Any = (
        output_type if is_basemodel_type(output_type) else pydantic.TypeAdapter(output_type)
    )
    try:
        return to_strict_json_schema(target)
    except (TypeError, pydantic.PydanticUserError) as exc:
        raise InputError(
            f"cannot build a strict JSON schema for {output_type.__name__}: {exc}",
            rule="invalid_request",
        ) from exc


def chat_response_format(output_type: type) -> dict[str, Any]:
    """Chat completions ``response_format`` for ``output_type`` (cached per type).

    Raises:
        InputError: as :func:`strict_json_schema`.
    """
    return _chat_format(_check(output_type))


@functools.cache
def _chat_format(output_type: type) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "schema": _strict_schema(output_type),
            "name": schema_name(output_type),
            "strict": True,
        },
    }


def responses_text_format(output_type: type) -> dict[str, Any]:
    """Responses ``text.format`` for ``output_type`` (cached per type).

    Raises:
        InputError: as :func:`strict_json_schema`.
    """
    return _text_format(_check(output_type))


@functools.cache
def _text_format(output_type: type) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "strict": True,
        "name": schema_name(output_type),
        "schema": _strict_schema(output_type),
    }


# What Anthropic's structured outputs take as they are; any other keyword is moved into
# the description, where the model may still follow it (the SDK's rule).
_CLAUDE_STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)


def _is_primitive(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def claude_json_schema(json_schema: dict[str, Any]) -> dict[str, Any]:
    """``json_schema`` rewritten for Anthropic's structured outputs, by the rules of the
    ``anthropic`` SDK's ``transform_schema``: objects get ``additionalProperties: false``,
    ``oneOf`` becomes ``anyOf``, unsupported string formats and keywords (``minimum``,
    ``maxLength``...) move into the description, ``$defs`` and ``$ref`` are kept.

    Raises:
        ValueError: a (sub)schema has no ``type``, ``anyOf``, ``oneOf``, ``allOf``,
            ``const`` or non-empty ``enum``, or a ``type`` that is not one name.
    """
    rest = dict(json_schema)
    out: dict[str, Any] = {}
    defs = rest.pop("$defs", None)
    if defs is not None:
        out["$defs"] = {name: claude_json_schema(sub) for name, sub in defs.items()}
    ref = rest.pop("$ref", None)
    if ref is not None:
        out["$ref"] = ref
        if (description := rest.pop("description", None)) is not None:
            out["description"] = description
        return out
    kind = rest.pop("type", None)
    any_of, one_of, all_of = (
        rest.pop("anyOf", None),
        rest.pop("oneOf", None),
        rest.pop("allOf", None),
    )
    enum = rest.get("enum")
    if isinstance(enum, list) and enum and all(_is_primitive(v) for v in enum):
        out["enum"] = list(rest.pop("enum"))
    if "const" in rest and _is_primitive(rest["const"]):
        out["const"] = rest.pop("const")
    literal = "enum" in out or "const" in out
    if literal:
        kind = None
    if isinstance(any_of, list) or isinstance(one_of, list):
        out["anyOf"] = [
            claude_json_schema(v) for v in (any_of if isinstance(any_of, list) else one_of)
        ]
    elif isinstance(all_of, list):
        out["allOf"] = [claude_json_schema(v) for v in all_of]
    elif not literal:
        if kind is None:
            raise ValueError(
                "Schema must have a 'type', 'anyOf', 'oneOf', or 'allOf' field, "
                "or a 'const' or non-empty 'enum' of strings, numbers, booleans, or null."
            )
        out["type"] = kind
    for key in ("description", "title"):
        if (value := rest.pop(key, None)) is not None:
            out[key] = value
    _claude_typed(kind, rest, out)
    if rest:  # what is left is unsupported: say it in the description
        listed = "{" + ", ".join(f"{key}: {value}" for key, value in rest.items()) + "}"
        description = out.get("description")
        out["description"] = (description + "\n\n" if description is not None else "") + listed
    return out


def _claude_typed(kind: object, rest: dict[str, Any], out: dict[str, Any]) -> None:
    if kind == "object":
        props = rest.pop("properties", {})
        out["properties"] = {key: claude_json_schema(sub) for key, sub in props.items()}
        rest.pop("additionalProperties", None)
        out["additionalProperties"] = False
        required = rest.pop("required", None)
        if required is not None:
            out["required"] = list(required) if isinstance(required, list) else required
    elif kind == "string":
        fmt = rest.pop("format", None)
        if fmt and fmt in _CLAUDE_STRING_FORMATS:
            out["format"] = fmt
        elif fmt:
            rest["format"] = fmt
    elif kind == "array":
        items = rest.pop("items", None)
        if items is not None:
            out["items"] = claude_json_schema(items)
        min_items = rest.pop("minItems", None)
        if min_items == 0 or min_items == 1:
            out["minItems"] = min_items
        elif min_items is not None:
            rest["minItems"] = min_items
    elif kind not in (None, "boolean", "integer", "number", "null"):
        raise ValueError(f"unsupported schema type {kind!r}")


def messages_output_format(output_type: type) -> dict[str, Any]:
    """Anthropic ``output_config.format`` for ``output_type``, as the ``anthropic`` SDK's
    ``messages.parse(output_format=...)`` builds it (cached per type): the JSON schema of
    ``pydantic.TypeAdapter(output_type)``, rewritten by :func:`claude_json_schema`.

    Raises:
        InputError: ``output_type`` is not a type, or no JSON schema can be built for it.
    """
    if not isinstance(output_type, type):
        raise InputError(
            f"output_format must be a type (a pydantic model, dataclass or TypedDict), got "
            f"{output_type!r}; pass a schema dict as output_config={{'format': ...}} instead",
            rule="invalid_request",
        )
    return _messages_format(output_type)


@functools.cache
def _messages_format(output_type: type) -> dict[str, Any]:
    try:
        schema = pydantic.TypeAdapter(output_type).json_schema()
        return {"type": "json_schema", "schema": claude_json_schema(schema)}
    except (TypeError, ValueError, pydantic.PydanticUserError) as exc:
        raise InputError(
            f"cannot build a JSON schema for {output_type.__name__}: {exc}",
            rule="invalid_request",
        ) from exc
