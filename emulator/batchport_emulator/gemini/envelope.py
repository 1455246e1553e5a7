"""The synchronous checks of ``POST /v1beta/models/{model}:batchGenerateContent``
(sections 2.2 and 2.3).

Only the envelope is checked at create: a ``batch`` object whose ``inputConfig`` holds
exactly one of ``requests.requests[]`` (each ``{request, metadata?}``, metadata a map of
strings) or ``fileName`` (``files/...``). Fields are accepted in the camelCase the SDK
sends and in the snake_case the REST examples use, as proto JSON parsers accept both.
The requests themselves are checked per row by the responder, as the real service
reports bad requests as failed rows (section 2.6). Refusals are 400 ``INVALID_ARGUMENT``
worded like Google's field violations; the first problem found is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

import orjson

from batchport_emulator.errors import ApiError

_WHERE = "batch.input_config.requests.requests"


@dataclass(frozen=True, slots=True)
class CreateBody:
    """What a create body asks for: the display name, one of the two sources, and the
    optional ``webhook_config`` (URIs for this job's events, and metadata they echo)."""

    display_name: str | None
    file_name: str | None
    requests: list[Any] | None
    webhook_uris: list[str] | None = None
    webhook_user_metadata: dict[str, Any] | None = None


def _refuse(message: str) -> ApiError:
    return ApiError(400, message)


def field(body: Mapping[str, Any], camel: str, snake: str) -> Any:
    """A field under its camelCase or its snake_case name."""
    value = body.get(camel)
    return body.get(snake) if value is None else value


def _batch_of(raw: bytes) -> Mapping[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _refuse("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(body, Mapping):
        raise _refuse("Invalid JSON payload received. Expected an object.")
    batch = body.get("batch")
    if batch is None:
        raise _refuse("* BatchGenerateContentRequest.batch: batch is required")
    if not isinstance(batch, Mapping):
        raise _refuse("Invalid value at 'batch' (type.googleapis.com/GenerateContentBatch)")
    return batch


def _webhook_config(batch: Mapping[str, Any]) -> tuple[list[str] | None, dict[str, Any] | None]:
    config = field(batch, "webhookConfig", "webhook_config")
    if config is None:
        return None, None
    if not isinstance(config, Mapping):
        raise _refuse("Invalid value at 'batch.webhook_config' (type.googleapis.com/WebhookConfig)")
    uris = config.get("uris")
    if uris is not None and (
        not isinstance(uris, list) or not all(isinstance(u, str) and u for u in uris)
    ):
        raise _refuse("Invalid value at 'batch.webhook_config.uris' (TYPE_STRING)")
    metadata = field(config, "userMetadata", "user_metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise _refuse(
            "Invalid value at 'batch.webhook_config.user_metadata' "
            "(type.googleapis.com/google.protobuf.Struct)"
        )
    return (list(uris) if uris else None), (dict(metadata) if metadata is not None else None)


def parse_create(raw: bytes, *, max_requests: int | None) -> CreateBody:
    """Check a create body; raises :class:`ApiError` 400 on the first problem."""
    batch = _batch_of(raw)
    hooks = _webhook_config(batch)
    display = field(batch, "displayName", "display_name")
    if display is not None and not isinstance(display, str):
        raise _refuse("Invalid value at 'batch.display_name' (TYPE_STRING)")
    config = field(batch, "inputConfig", "input_config")
    if not isinstance(config, Mapping):
        raise _refuse("* BatchGenerateContentRequest.batch.input_config: input_config is required")
    file_name = field(config, "fileName", "file_name")
    holder = config.get("requests")
    if file_name is not None and holder is not None:
        raise _refuse(
            "* BatchGenerateContentRequest.batch.input_config: only one of file_name and "
            "requests may be set"
        )
    if file_name is not None:
        if not isinstance(file_name, str) or not file_name.startswith("files/"):
            raise _refuse(
                "* BatchGenerateContentRequest.batch.input_config.file_name: must be of the "
                "form 'files/{file}'"
            )
        return CreateBody(display, file_name, None, *hooks)
    requests = holder.get("requests") if isinstance(holder, Mapping) else None
    if not isinstance(requests, list) or not requests:
        raise _refuse(
            "* BatchGenerateContentRequest.batch.input_config: one of file_name or "
            "requests must be set and non-empty"
        )
    if max_requests is not None and len(requests) > max_requests:
        raise _refuse(
            f"* BatchGenerateContentRequest.batch.input_config.requests: at most "
            f"{max_requests} requests are allowed, got {len(requests)}"
        )
    return CreateBody(display, None, requests, *hooks)


def _metadata(index: int, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _refuse(f"Invalid value at '{_WHERE}[{index}].metadata' (map<string, string>)")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _refuse(f"Invalid value at '{_WHERE}[{index}].metadata[{key}]' (TYPE_STRING)")
    return dict(value)


def write_inline(requests: list[Any], out: IO[bytes]) -> int:
    """Write one ``{"key", "request", "metadata"}`` line per inline request (``key`` is
    its position) to ``out``; return how many. Raises :class:`ApiError` 400 for an item
    that is not ``{request: {...}, metadata?: {...}}``."""
    for index, item in enumerate(requests):
        if not isinstance(item, Mapping):
            raise _refuse(f"Invalid value at '{_WHERE}[{index}]' (InlinedRequest)")
        request = item.get("request")
        if not isinstance(request, Mapping):
            raise _refuse(f"* BatchGenerateContentRequest.{_WHERE}[{index}].request: required")
        line = {
            "key": str(index),
            "request": request,
            "metadata": _metadata(index, item.get("metadata")),
        }
        out.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
    return len(requests)
