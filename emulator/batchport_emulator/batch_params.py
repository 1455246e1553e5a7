"""Checks on ``POST /v1/batches`` parameters: the synchronous 400s.

Messages and codes follow the wire reference (section 1.7 and section 5): missing
parameters, unsupported endpoints and windows, wrongly typed or oversized
metadata, and ``output_expires_after`` out of range. Everything here is pure and
raises :class:`~batchport_emulator.errors.ApiError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchport_emulator.errors import (
    ApiError,
    invalid_type,
    invalid_value,
    missing_parameter,
)

ENDPOINTS: tuple[str, ...] = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
COMPLETION_WINDOWS: tuple[str, ...] = ("24h",)
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 512
EXPIRES_AFTER_MIN_S = 3_600
EXPIRES_AFTER_MAX_S = 2_592_000
_KNOWN = frozenset(
    {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"}
)


@dataclass(frozen=True, slots=True)
class CreateParams:
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None
    output_expires_after_s: int | None


def required_string(body: Mapping[str, Any], name: str) -> str:
    """``body[name]`` as a string; raises :class:`ApiError` 400 when missing or not one."""
    value = body.get(name)
    if value is None:
        raise missing_parameter(name)
    if not isinstance(value, str):
        raise invalid_type(name, "a string", value)
    return value


def check_create_keys(body: Any, note: str = "") -> Mapping[str, Any]:
    """``body`` if it is an object of known create-batch parameters; raises
    :class:`ApiError` 400 otherwise. ``note`` is appended to the unknown-parameter message."""
    if not isinstance(body, Mapping):
        raise invalid_type("body", "an object", body)
    for key in body:
        if key not in _KNOWN:
            raise ApiError(
                400,
                f"Unknown parameter: '{str(key)[:64]}'.{note}",
                param=str(key)[:64],
                code="unknown_parameter",
            )
    return body


def parse_create_params(body: Any) -> CreateParams:
    """Validate a create-batch JSON body; raises :class:`ApiError` (400) on the first fault."""
    body = check_create_keys(body)
    input_file_id = required_string(body, "input_file_id")
    endpoint = required_string(body, "endpoint")
    if endpoint not in ENDPOINTS:
        raise invalid_value("endpoint", endpoint[:256], ENDPOINTS)
    window = required_string(body, "completion_window")
    if window not in COMPLETION_WINDOWS:
        raise invalid_value("completion_window", window[:64], COMPLETION_WINDOWS)
    return CreateParams(
        input_file_id=input_file_id,
        endpoint=endpoint,
        completion_window=window,
        metadata=check_metadata(body.get("metadata")),
        output_expires_after_s=parse_expires_after(
            body.get("output_expires_after"), "output_expires_after"
        ),
    )


def check_metadata(metadata: Any) -> dict[str, str] | None:
    """At most 16 string pairs, keys up to 64 and values up to 512 characters."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise invalid_type("metadata", "an object", metadata)
    if len(metadata) > METADATA_MAX_PAIRS:
        raise ApiError(
            400,
            "Invalid 'metadata': too many properties. Expected an object with at most "
            f"{METADATA_MAX_PAIRS} properties, but got an object with {len(metadata)} "
            "properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_MAX:
            raise ApiError(
                400,
                f"Invalid 'metadata': too long property name. Expected a property name with "
                f"a maximum length of {METADATA_KEY_MAX}, but got a property name with "
                f"length {len(key)} instead.",
                param="metadata",
                code="property_name_above_max_length",
            )
        param = f"metadata.{key}"
        if not isinstance(value, str):
            raise invalid_type(param, "a string", value)
        if len(value) > METADATA_VALUE_MAX:
            raise ApiError(
                400,
                f"Invalid '{param}': string too long. Expected a string with maximum length "
                f"{METADATA_VALUE_MAX}, but got a string with length {len(value)} instead.",
                param=param,
                code="string_above_max_length",
            )
    return {str(k): v for k, v in metadata.items()}


def parse_expires_after(value: Any, param: str) -> int | None:
    """``{"anchor": "created_at", "seconds": 3600..2592000}`` -> seconds, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise invalid_type(param, "an object", value)
    anchor = value.get("anchor")
    if anchor != "created_at":
        raise invalid_value(f"{param}.anchor", str(anchor)[:64], ["created_at"])
    return parse_expiry_seconds(value.get("seconds"), f"{param}.seconds")


def parse_expiry_seconds(seconds: Any, param: str) -> int:
    """An expiry in seconds from an int or a decimal string, within the allowed range."""
    if (
        isinstance(seconds, str)
        and seconds.strip().lstrip("-").isascii()
        and seconds.strip().lstrip("-").isdigit()
    ):
        seconds = int(seconds)
    if seconds is None:
        raise missing_parameter(param)
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise invalid_type(param, "an integer", seconds)
    if not EXPIRES_AFTER_MIN_S <= seconds <= EXPIRES_AFTER_MAX_S:
        raise ApiError(
            400,
            f"Invalid '{param}': integer must be between {EXPIRES_AFTER_MIN_S} and "
            f"{EXPIRES_AFTER_MAX_S}, got {seconds}.",
            param=param,
            code="invalid_value",
        )
    return seconds
