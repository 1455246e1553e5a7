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

Gemini's ``generationConfig.responseSchema`` is an OpenAPI-style ``Schema``; a type given
as ``response_schema`` becomes one by the ``google-genai`` SDK's rules
(:func:`gemini_response_schema`, reproduced here for the same reasons).

Returned dicts are shared between calls (and between requests): treat them as read-only.

pydantic and the SDK are imported when a schema is first built, not with this module:
together they take about half a second, and a builder that never sees an output type
should not pay it.
"""

from __future__ import annotations

import copy
import enum
import functools
import re
import sys
import types
import typing
from typing import Any

from batchport.errors import InputError

__all__ = [
    "chat_response_format",
    "claude_json_schema",
    "gemini_response_schema",
    "is_model_class",
    "is_model_instance",
    "is_output_type",
    "loaded_base_model",
    "messages_output_format",
    "responses_text_format",
    "schema_name",
    "strict_json_schema",
]

_NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def is_output_type(value: object) -> bool:
    """Whether ``value`` is a type the SDK accepts as an output format (pydantic model or
    pydantic dataclass): the SDK's ``is_basemodel_type or is_dataclass_like_type``."""
    if not isinstance(value, type):
        return False
    return is_model_class(value) or hasattr(value, "__pydantic_config__")


def loaded_base_model() -> type | None:
    """``pydantic.BaseModel`` if pydantic has defined it, else None.

    No value is a pydantic model before pydantic is imported, so a check of a value
    can ask this instead of importing pydantic (a tenth of a second) to find out.
    """
    base = getattr(sys.modules.get("pydantic.main"), "BaseModel", None)
    return base if isinstance(base, type) else None


def is_model_class(value: object) -> bool:
    """Whether ``value`` is a pydantic model class; never imports pydantic."""
    base = loaded_base_model()
    return base is not None and isinstance(value, type) and issubclass(value, base)


def is_model_instance(value: object) -> bool:
    """Whether ``value`` is a pydantic model instance; never imports pydantic."""
    base = loaded_base_model()
    return base is not None and isinstance(value, base)


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


def to_strict_json_schema(model: Any) -> dict[str, Any]:
    """The SDK's own ``to_strict_json_schema``, imported with the SDK on first use."""
    from openai.lib._pydantic import to_strict_json_schema as sdk_strict_json_schema

    return sdk_strict_json_schema(model)


@functools.cache
def _strict_schema(output_type: type) -> dict[str, Any]:
    import pydantic

    target: Any = output_type if is_model_class(output_type) else pydantic.TypeAdapter(output_type)
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
    import pydantic

    try:
        schema = pydantic.TypeAdapter(output_type).json_schema()
        return {"type": "json_schema", "schema": claude_json_schema(schema)}
    except (TypeError, ValueError, pydantic.PydanticUserError) as exc:
        raise InputError(
            f"cannot build a JSON schema for {output_type.__name__}: {exc}",
            rule="invalid_request",
        ) from exc


# -- Gemini -------------------------------------------------------------------------

# The fields of the SDK's ``types.Schema`` (wire spelling); any other keyword is refused,
# as the SDK's validation of ``Schema`` (``extra="forbid"``) refuses it.
_GEMINI_SCHEMA_KEYS = frozenset({
    "additionalProperties", "anyOf", "default", "description", "enum", "example", "format",
    "items", "maxItems", "maxLength", "maxProperties", "maximum", "minItems", "minLength",
    "minProperties", "minimum", "nullable", "pattern", "properties", "propertyOrdering",
    "required", "title", "type", "prefixItems",
})  # fmt: skip
# The SDK's ``Schema`` takes its fields' snake_case names too.
_GEMINI_SCHEMA_SNAKE = {
    "additional_properties": "additionalProperties",
    "any_of": "anyOf",
    "prefix_items": "prefixItems",
    "property_ordering": "propertyOrdering",
    "max_items": "maxItems",
    "min_items": "minItems",
    "max_length": "maxLength",
    "min_length": "minLength",
    "max_properties": "maxProperties",
    "min_properties": "minProperties",
}


def gemini_response_schema(origin: object) -> dict[str, Any]:
    """Gemini ``responseSchema`` for ``origin`` (a pydantic model or other type, or a
    schema dict), as the ``google-genai`` SDK's ``t_schema`` builds it for the Gemini
    Developer API: ``$defs`` inlined at each ``$ref`` (a recursive reference ends in an
    empty schema), ``null`` alternatives folded into ``nullable``, a one-value string
    ``Literal`` as a one-member ``enum``, ``propertyOrdering`` in declaration order, type
    names upper-cased. Keys are written in camelCase. Cached per type; a dict is copied.

    Raises:
        InputError: the schema has ``additionalProperties`` (the Developer API refuses
            it), a non-string ``const``, a keyword Gemini's ``Schema`` lacks (say
            ``exclusiveMinimum``; ``response_json_schema`` takes full JSON Schema), or
            no schema can be built for the type.
    """
    if isinstance(origin, dict):
        return _gemini_schema_dict(copy.deepcopy(origin))
    if isinstance(origin, type | types.GenericAlias) or typing.get_origin(origin) is not None:
        try:
            return _gemini_type_schema(origin)
        except TypeError:  # unhashable typing construct: not cached
            return _gemini_type_schema.__wrapped__(origin)
    raise InputError(
        f"response_schema must be a type or a schema dict, got {origin!r}", rule="invalid_request"
    )


@functools.cache
def _gemini_type_schema(origin: Any) -> dict[str, Any]:
    import pydantic

    name = getattr(origin, "__name__", repr(origin))
    try:
        if isinstance(origin, type) and issubclass(origin, pydantic.BaseModel):
            return _gemini_schema_dict(origin.model_json_schema())
        if isinstance(origin, type) and issubclass(origin, enum.Enum):
            origin = _string_enum(origin)
        holder = pydantic.create_model("Placeholder", placeholder=(origin, ...))
        schema = holder.model_json_schema()
    except (TypeError, ValueError, pydantic.PydanticUserError) as exc:
        raise InputError(
            f"cannot build a response_schema for {name}: {exc}", rule="invalid_request"
        ) from exc
    processed = _gemini_schema_dict(schema)
    out: dict[str, Any] = processed["properties"]["placeholder"]
    return out


def _string_enum(origin: type[enum.Enum]) -> type[enum.Enum]:
    """The SDK sends an enum of integers as the same enum of strings."""
    values = [member.value for member in origin]
    if not all(isinstance(v, int | str) for v in values):
        raise InputError(
            f"enum {origin.__name__} values must be strings or integers", rule="invalid_request"
        )
    if all(isinstance(v, str) for v in values):
        return origin
    make: Any = enum.Enum  # a functional Enum call with a computed name
    made: type[enum.Enum] = make(origin.__name__, [str(v) for v in values], type=str)
    return made


def _gemini_schema_dict(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})
    _gemini_process(schema, defs, set())
    return schema


def _gemini_process(schema: dict[str, Any], defs: dict[str, Any], refs: set[str]) -> None:
    """Rewrite ``schema`` in place (the SDK's ``process_schema`` for the Developer API)."""
    if schema.get("title") == "PlaceholderLiteralEnum":
        del schema["title"]
    for snake, camel in _GEMINI_SCHEMA_SNAKE.items():
        if (value := schema.pop(snake, None)) is not None:
            schema[camel] = value
    if schema.get("additionalProperties"):
        raise InputError(
            "response_schema: additionalProperties is not supported by the Gemini Developer "
            "API; use response_json_schema for a full JSON Schema",
            rule="invalid_request",
        )
    _gemini_nullable(schema)
    if (ref := schema.pop("$ref", None)) is not None:
        if (resolved := _gemini_ref(ref, defs, refs)) is not None:
            schema.update(resolved)
        _gemini_check(schema)
        return

    def recurse(sub: dict[str, Any]) -> dict[str, Any]:
        if (sub_ref := sub.pop("$ref", None)) is not None:
            return _gemini_ref(sub_ref, defs, refs) or {}
        _gemini_process(sub, defs, refs)
        return sub

    if (any_of := schema.get("anyOf")) is not None:
        schema["anyOf"] = [recurse(sub) for sub in any_of]
        _gemini_check(schema)
        return
    kind = schema.get("type")
    kind = kind.upper() if isinstance(kind, str) else kind
    if "const" in schema and schema["const"] is not None:
        if kind != "STRING":
            raise InputError(
                "response_schema: Literal values must be strings", rule="invalid_request"
            )
        schema["enum"] = [schema.pop("const")]
    if kind == "OBJECT":
        if (properties := schema.get("properties")) is not None:
            for name, sub in list(properties.items()):
                properties[name] = recurse(sub)
            if len(properties) > 1 and "propertyOrdering" not in schema:
                schema["propertyOrdering"] = list(properties)
        if isinstance(additional := schema.get("additionalProperties"), dict):
            schema["additionalProperties"] = recurse(additional)
    elif kind == "ARRAY":
        if (items := schema.get("items")) is not None:
            schema["items"] = recurse(items)
        if (prefixes := schema.get("prefixItems")) is not None:
            schema["prefixItems"] = [recurse(sub) for sub in prefixes]
    _gemini_check(schema)


def _gemini_nullable(schema: dict[str, Any]) -> None:
    if schema.get("type") == "null":
        schema["nullable"] = True
        del schema["type"]
    elif isinstance(any_of := schema.get("anyOf"), list) and {"type": "null"} in any_of:
        schema["nullable"] = True
        any_of.remove({"type": "null"})
        if len(any_of) == 1:
            schema.update(any_of[0])
            del schema["anyOf"]


def _gemini_ref(ref: str, defs: dict[str, Any], refs: set[str]) -> dict[str, Any] | None:
    name = ref.split("defs/")[-1]
    if name in refs:
        return None
    if name not in defs:
        raise InputError(f"response_schema: unresolved $ref {ref!r}", rule="invalid_request")
    resolved: dict[str, Any] = copy.deepcopy(defs[name])
    refs.add(name)
    try:
        _gemini_process(resolved, defs, refs)
    finally:
        refs.discard(name)
    return resolved


def _gemini_check(schema: dict[str, Any]) -> None:
    for key in [key for key, value in schema.items() if value is None]:
        del schema[key]  # the SDK sends the Schema without its unset (None) fields
    unknown = sorted(set(schema) - _GEMINI_SCHEMA_KEYS)
    if unknown:
        raise InputError(
            f"response_schema: Gemini's Schema has no {', '.join(unknown)}; use "
            "response_json_schema for a full JSON Schema",
            rule="invalid_request",
        )
    if isinstance(kind := schema.get("type"), str):
        schema["type"] = kind.upper()
    enum_values = schema.get("enum")
    if enum_values is not None and not all(isinstance(v, str) for v in enum_values):
        raise InputError("response_schema: enum values must be strings", rule="invalid_request")
