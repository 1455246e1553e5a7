"""The Azure OpenAI dialect: ``/openai`` and ``/openai/v1`` routes, ``api-key`` or Entra
ID bearer auth, Azure's error bodies, and Azure's object and result-line shapes.

Differences from the OpenAI dialect, each from the Azure reference:

- auth: ``api-key: <key>`` (checked against the configured keys), or
  ``Authorization: Bearer <token>`` checked by a configurable validator (any
  non-empty token by default); a 401 body ``{"error": {"code": "401", ...}}``;
- errors: ``{"error": {"code", "message"}}`` with ``param`` when known; code-less
  refusals get the camelCase codes of Azure's REST spec;
- files: uploads answer 201 and start ``pending`` (the rules move them to
  ``processed``);
- batches: no ``model`` or ``usage`` fields; ``expires_at`` shows ``created_at +
  24 h`` even though Azure does not expire batches;
- result lines: no top-level ``id``; a successful batch gets an empty error file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from batchport_emulator.azure.auth import TokenValidator, accept_any
from batchport_emulator.batches import Batch
from batchport_emulator.dialects.common import (
    batch_object,
    bearer_token,
    file_object,
    key_matches,
)
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord

DAY_S = 86_400
_NO_KEY = (
    "Access denied due to missing subscription key. Make sure to include subscription "
    "key when making requests to an API."
)
_BAD_KEY = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API "
    "endpoint for your resource."
)
_BAD_TOKEN = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)
# SPEC-GA's ErrorCode values for refusals that carry no code of their own.
_CODE_BY_STATUS = {
    400: "invalidPayload",
    401: "unauthorized",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    413: "invalidPayload",
    429: "tooManyRequests",
    500: "internalFailure",
    503: "serviceUnavailable",
}


def resource_not_found() -> ApiError:
    """Azure's answer to an unknown route, a deployment-scoped files/batches path, or
    an unknown ``api-version``."""
    return ApiError(404, "Resource not found", code="404")


class AzureDialect:
    name = "azure"
    prefix = "/openai"
    upload_status = 201
    empty_error_file = True

    def __init__(self, validator: TokenValidator = accept_any) -> None:
        self._validator = validator

    def check_auth(self, headers: Mapping[str, str], accepted: Sequence[str]) -> None:
        key = headers.get("api-key", "").strip()
        if key:
            if accepted and not key_matches(key, accepted):
                raise ApiError(401, _BAD_KEY, code="401")
            return
        token = bearer_token(headers)
        if token is None:
            raise ApiError(401, _NO_KEY, code="401")
        if accepted and key_matches(token, accepted):
            return
        if not self._validator(token):
            raise ApiError(401, _BAD_TOKEN, code="401")

    def error_body(self, error: ApiError) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": error.code or _CODE_BY_STATUS.get(error.status, str(error.status)),
            "message": error.message,
        }
        if error.param is not None:
            body["param"] = error.param
        return {"error": body}

    def file_object(self, record: FileRecord) -> dict[str, Any]:
        return file_object(record)

    def batch_object(self, batch: Batch) -> dict[str, Any]:
        return batch_object(batch, expires_at=batch.created_at + DAY_S, with_model=False)

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
                "custom_id": custom_id,
                "response": {"body": body, "request_id": request_id, "status_code": status_code},
                "error": None,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )

    def unrun_line(self, *, line_id: str, custom_id: str, code: str, message: str) -> bytes:
        return orjson.dumps(
            {"custom_id": custom_id, "response": None, "error": {"code": code, "message": message}},
            option=orjson.OPT_APPEND_NEWLINE,
        )


AZURE = AzureDialect()
