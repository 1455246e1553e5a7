"""The Azure OpenAI dialect: ``/openai`` and ``/openai/v1`` routes, ``api-key`` or Entra
ID bearer auth, ``api-version``, Azure's error bodies, and Azure's object and
result-line shapes. Its behaviour is :class:`~batchport_emulator.azure.rules.AzureRules`.

Differences from the OpenAI dialect, each from the Azure reference:

- auth: ``api-key: <key>`` (checked against the configured keys), or
  ``Authorization: Bearer <token>`` checked by a configurable validator (with API keys
  configured, by default an unexpired JWT for Cognitive Services; otherwise any
  non-empty token); a 401 body ``{"error": {"code": "401", ...}}``. With keys
  configured, files and batches are visible only to the credential that made them
  (the key, or the token's ``oid``/``sub``);
- requests: ``/openai/...`` needs an ``api-version`` among ``azure.api_versions``;
  ``/openai/v1/...`` takes none, or ``v1``/``preview``/``latest``; anything else, and
  any unknown path under ``/openai`` (such as files or batches under
  ``/openai/deployments/{name}/``), is 404 ``Resource not found``;
- errors: ``{"error": {"code", "message"}}`` with ``param`` when known; code-less
  refusals get the camelCase codes of Azure's REST spec;
- files: uploads answer 201 and start ``pending`` (the rules move them to
  ``processed``);
- batches: no ``model`` or ``usage`` fields; ``expires_at`` shows ``created_at +
  24 h`` even though Azure does not expire batches;
- result lines: no top-level ``id``, ``response`` keys in Azure's order; a successful
  batch gets an empty error file (a rule);
- no realtime endpoints (Azure serves them per deployment; not emulated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batchport_emulator.azure.auth import TokenValidator, make_validator, principal
from batchport_emulator.azure.config import V1_API_VERSIONS, AzureConfig
from batchport_emulator.azure.rules import AzureRules
from batchport_emulator.batches import Batch
from batchport_emulator.dialects.common import (
    batch_object,
    bearer_token,
    file_object,
    key_matches,
    key_principal,
)
from batchport_emulator.dialects.lines import LineWriter, ResultLines
from batchport_emulator.dialects.rules import DialectContext
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord
from batchport_emulator.ids import IdFactory

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


def api_version_ok(path: str, version: str | None, accepted: Sequence[str]) -> bool:
    """Whether ``version`` (the ``api-version`` query value) may be used on ``path``."""
    if path == "/openai/v1" or path.startswith("/openai/v1/"):
        return version is None or version in V1_API_VERSIONS
    return version is not None and version in accepted


class AzureDialect:
    name = "azure"
    prefixes: tuple[str, ...] = ("/openai", "/openai/v1")
    upload_status = 201
    route_sets: tuple[str, ...] = ("files", "batches")
    request_id_header = "x-request-id"
    lines: LineWriter = ResultLines(
        with_id=False, response_order=("body", "request_id", "status_code")
    )

    def __init__(self, context: DialectContext) -> None:
        self._config = context.config
        self.rules = AzureRules(
            config=context.config,
            now=context.now,
            files=context.files,
            batch_finished=context.batch_finished,
            owner=self.name,
        )
        self._validator: tuple[tuple[str, tuple[str, ...], bool], TokenValidator] | None = None

    @property
    def _azure(self) -> AzureConfig:
        return self._config().azure

    def _token_validator(self, keys_configured: bool) -> TokenValidator:
        """The configured bearer-token validator, rebuilt when its settings change."""
        c = self._azure
        key = (c.bearer_validator, tuple(c.jwt_audiences), keys_configured)
        if self._validator is None or self._validator[0] != key:
            made = make_validator(
                c.bearer_validator, c.jwt_audiences, keys_configured=keys_configured
            )
            self._validator = (key, made)
        return self._validator[1]

    def check_auth(self, headers: Mapping[str, str], accepted: Sequence[str]) -> str | None:
        key = headers.get("api-key", "").strip()
        if key:
            if not accepted:
                return None
            if not key_matches(key, accepted):
                raise ApiError(401, _BAD_KEY, code="401")
            return key_principal(key)
        token = bearer_token(headers)
        if token is None:
            raise ApiError(401, _NO_KEY, code="401")
        if accepted and key_matches(token, accepted):
            return key_principal(token)
        if not self._token_validator(bool(accepted))(token):
            raise ApiError(401, _BAD_TOKEN, code="401")
        return principal(token) if accepted else None

    def request_id(self, ids: IdFactory) -> str:
        return ids.request_id()

    def check_request(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> None:
        if not api_version_ok(path, query.get("api-version"), self._azure.api_versions):
            raise resource_not_found()

    def unknown_route(self, method: str, path: str) -> ApiError:
        return resource_not_found()

    def error_body(self, error: ApiError, request_id: str | None = None) -> dict[str, Any]:
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
