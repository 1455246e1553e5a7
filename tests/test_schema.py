"""Strict schemas and the two structured-output wire shapes, checked against the SDK."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

import pydantic
import pytest
from openai.lib._parsing._completions import type_to_response_format_param
from openai.lib._parsing._responses import type_to_text_format_param
from pydantic import BaseModel

from batchport import schema
from batchport.errors import InputError

T = TypeVar("T")


class Address(BaseModel):
    street: str
    city: str | None = None


class Person(BaseModel):
    name: str
    age: int = 0
    mood: Literal["happy", "sad"]
    home: Address
    tags: list[str] = []


class Page(BaseModel, Generic[T]):
    items: list[T]


def test_chat_shape_equals_the_sdk() -> None:
    assert schema.chat_response_format(Person) == type_to_response_format_param(Person)
    shape = schema.chat_response_format(Person)
    assert shape["type"] == "json_schema"
    assert set(shape["json_schema"]) == {"name", "schema", "strict"}
    assert shape["json_schema"]["strict"] is True


def test_responses_shape_equals_the_sdk() -> None:
    assert schema.responses_text_format(Person) == type_to_text_format_param(Person)
    shape = schema.responses_text_format(Person)
    assert set(shape) == {"type", "name", "schema", "strict"}
    assert "json_schema" not in shape


def test_schema_is_strict() -> None:
    s = schema.strict_json_schema(Person)
    assert s["additionalProperties"] is False
    assert s["required"] == ["name", "age", "mood", "home", "tags"]  # every property required
    assert s["$defs"]["Address"]["additionalProperties"] is False


def test_computed_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = schema.to_strict_json_schema

    def counting(model: object) -> dict[str, object]:
        calls.append(model)
        return real(model)  # type: ignore[arg-type]

    monkeypatch.setattr(schema, "to_strict_json_schema", counting)

    class Fresh(BaseModel):
        x: int

    for _ in range(100):
        schema.chat_response_format(Fresh)
        schema.responses_text_format(Fresh)
    assert calls == [Fresh]
    assert schema.chat_response_format(Fresh)["json_schema"]["schema"] is schema.strict_json_schema(
        Fresh
    )


def test_pydantic_dataclass_is_accepted() -> None:
    @pydantic.dataclasses.dataclass
    class Point:
        x: int
        y: int

    assert schema.is_output_type(Point)
    assert schema.strict_json_schema(Point)["required"] == ["x", "y"]


def test_generic_model_name_is_made_legal() -> None:
    name = schema.schema_name(Page[Address])
    assert name == "Page_Address"
    assert schema.responses_text_format(Page[Address])["name"] == name
    assert schema.schema_name(Person) == "Person"


@pytest.mark.parametrize(
    "bad", [dict, int, "Person", Person(name="a", mood="sad", home=Address(street="s"))]
)
def test_non_models_are_refused_clearly(bad: object) -> None:
    with pytest.raises(InputError, match="pydantic model"):
        schema.strict_json_schema(bad)  # type: ignore[arg-type]
    assert not schema.is_output_type(bad)
