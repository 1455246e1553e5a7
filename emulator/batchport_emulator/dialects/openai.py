"""The OpenAI dialect: ``/v1`` routes, bearer keys, the ``{"error": ...}`` envelope.

Object shapes follow the wire reference (section 1.2 file object, 1.11 batch
object, 3.2 result lines, 4.1 errors, 5 usage); every field is present, with
``null`` where empty. Its behaviour is the neutral
:class:`~batchport_emulator.dialects.rules.DialectRules`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batchport_emulator.batches import Batch
from batchport_emulator.dialects.common import (
    batch_object,
    bearer_token,
    file_object,
    key_matches,
    key_principal,
)
from batchport_emulator.dialects.lines import LineWriter, ResultLines
from batchport_emulator.dialects.rules import DialectContext, DialectRules
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord
from batchport_emulator.ids import IdFactory

_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
    "(with blank username) if you're accessing the API from your browser and are prompted for "
    "a username. You can obtain an API key from https://platform.openai.com/account/api-keys."
)
# The real message echoes a masked key; the emulator never repeats any part of a secret.
_BAD_KEY = (
    "Incorrect API key provided. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)


class OpenAIDialect:
    name = "openai"
    prefixes: tuple[str, ...] = ("/v1",)
    upload_status = 200
    route_sets: tuple[str, ...] = ("files", "batches", "realtime")
    request_id_header = "x-request-id"
    lines: LineWriter = ResultLines(
        with_id=True, response_order=("status_code", "request_id", "body")
    )

    def __init__(self, context: DialectContext) -> None:
        self.rules = DialectRules(context.config)

    def check_auth(self, headers: Mapping[str, str], accepted: Sequence[str]) -> str | None:
        key = bearer_token(headers)
        if key is None:
            raise ApiError(401, _NO_KEY)
        if not accepted:
            return None
        if not key_matches(key, accepted):
            raise ApiError(401, _BAD_KEY, code="invalid_api_key")
        return key_principal(key)

    def request_id(self, ids: IdFactory) -> str:
        return ids.request_id()

    def check_request(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> None:
        return None

    def unknown_route(self, method: str, path: str) -> ApiError:
        return ApiError(404, f"Invalid URL ({method} {path[:256]})")

    def error_body(self, error: ApiError, request_id: str | None = None) -> dict[str, Any]:
        return error.envelope()

    def file_object(self, record: FileRecord) -> dict[str, Any]:
        return file_object(record)

    def batch_object(self, batch: Batch) -> dict[str, Any]:
        u = batch.usage
        return {
            **batch_object(batch, expires_at=batch.expires_at, with_model=True),
            "usage": {
                "input_tokens": u.input_tokens,
                "input_tokens_details": {"cached_tokens": u.cached_tokens},
                "output_tokens": u.output_tokens,
                "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
                "total_tokens": u.input_tokens + u.output_tokens,
            },
        }
