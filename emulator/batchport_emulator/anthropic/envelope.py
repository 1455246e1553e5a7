"""The synchronous checks of ``POST /v1/messages/batches`` (section 3.1).

Only the envelope is checked at create: ``requests`` holds 1..N items, each with a
``custom_id`` matching ``^[a-zA-Z0-9_-]{1,64}$`` (unique in the batch) and a ``params``
object. Refusals are 400s worded like the real service's pydantic-style messages
(``requests.0.custom_id: String should have at most 64 characters``); the first problem
found is reported. ``params`` themselves are checked later, per request, by the
responder (errored result lines), as the real service does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

import orjson

from batchport_emulator.errors import ApiError

CUSTOM_ID_PATTERN = "^[a-zA-Z0-9_-]{1,64}$"
_CUSTOM_ID = re.compile(CUSTOM_ID_PATTERN)


def _refuse(message: str) -> ApiError:
    return ApiError(400, message)


def _check_custom_id(index: int, custom_id: object, seen: set[str]) -> str:
    where = f"requests.{index}.custom_id"
    if custom_id is None:
        raise _refuse(f"{where}: Field required")
    if not isinstance(custom_id, str):
        raise _refuse(f"{where}: Input should be a valid string")
    if not custom_id:
        raise _refuse(f"{where}: String should have at least 1 character")
    if len(custom_id) > 64:
        raise _refuse(f"{where}: String should have at most 64 characters")
    if not _CUSTOM_ID.match(custom_id):
        raise _refuse(f"{where}: String should match pattern '{CUSTOM_ID_PATTERN}'")
    if custom_id in seen:
        raise _refuse(
            f"{where}: Duplicate custom_id '{custom_id}'; each request in a batch needs "
            "a unique custom_id"
        )
    seen.add(custom_id)
    return custom_id


def _requests_of(body: Any, max_requests: int) -> list[Any]:
    if not isinstance(body, Mapping):
        raise _refuse("Input should be a valid dictionary")
    requests = body.get("requests")
    if requests is None:
        raise _refuse("requests: Field required")
    if not isinstance(requests, list):
        raise _refuse("requests: Input should be a valid list")
    if not requests:
        raise _refuse("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > max_requests:
        raise _refuse(
            f"requests: List should have at most {max_requests} items after validation, "
            f"not {len(requests)}"
        )
    return requests


def write_requests(raw: bytes, out: IO[bytes], *, max_requests: int) -> int:
    """Check the create body ``raw`` and write one ``{"custom_id", "body"}`` line per
    request to ``out``; return how many. Raises :class:`ApiError` 400 on the first
    problem (``out`` then holds a partial file the caller discards)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _refuse("There was an error parsing the body of your request.") from None
    seen: set[str] = set()
    requests = _requests_of(body, max_requests)
    for index, item in enumerate(requests):
        if not isinstance(item, Mapping):
            raise _refuse(f"requests.{index}: Input should be a valid dictionary")
        custom_id = _check_custom_id(index, item.get("custom_id"), seen)
        params = item.get("params")
        if params is None:
            raise _refuse(f"requests.{index}.params: Field required")
        if not isinstance(params, Mapping):
            raise _refuse(f"requests.{index}.params: Input should be a valid dictionary")
        out.write(
            orjson.dumps({"custom_id": custom_id, "body": params}, option=orjson.OPT_APPEND_NEWLINE)
        )
    return len(requests)
