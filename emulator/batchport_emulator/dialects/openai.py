"""The OpenAI dialect: ``/v1`` routes, bearer keys, the ``{"error": ...}`` envelope.

Object shapes follow the wire reference (section 1.2 file object, 1.11 batch
object, 3.2 result lines, 4.1 errors, 5 usage); every field is present, with
``null`` where empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from batchport_emulator.batches import Batch
from batchport_emulator.dialects.common import (
    batch_object,
    bearer_token,
    file_object,
    key_matches,
)
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord

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
    prefix = "/v1"
    upload_status = 200
    empty_error_file = False

    def check_auth(self, headers: Mapping[str, str], accepted: Sequence[str]) -> None:
        key = bearer_token(headers)
        if key is None:
            raise ApiError(401, _NO_KEY)
        if accepted and not key_matches(key, accepted):
            raise ApiError(401, _BAD_KEY, code="invalid_api_key")

    def error_body(self, error: ApiError) -> dict[str, Any]:
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

    def result_line(
        self,
        *,
        line_id: str,
        custom_id: str,
        status_code: int,
        request_id: str,
        body: Mapping[str, Any],
    ) -> bytes:
        return orjson.dumps(
            {
                "id": line_id,
                "custom_id": custom_id,
                "response": {"status_code": status_code, "request_id": request_id, "body": body},
                "error": None,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )

    def unrun_line(self, *, line_id: str, custom_id: str, code: str, message: str) -> bytes:
        return orjson.dumps(
            {
                "id": line_id,
                "custom_id": custom_id,
                "response": None,
                "error": {"code": code, "message": message},
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )


OPENAI = OpenAIDialect()
