"""Structured-output schemas, made strict the way the official SDK makes them.

The JSON schema of an output type is computed once per type (cached) with the SDK's own
``to_strict_json_schema``, so the wire matches what ``client.responses.parse`` or
``client.chat.completions.parse`` would send. Two wire shapes exist:

- chat completions ``response_format``:
  ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``
- responses ``text.format``:
  ``{"type": "json_schema", "name", "schema", "strict": true}``

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
    "is_output_type",
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
