"""Azure's checks: batch-create parameters (synchronous 400s) and input-file validation.

Validation streams the file line by line like the OpenAI checker and produces the
same :class:`~batchport_emulator.validation.InputPlan`, with Azure's codes (reference
section 4.1): ``invalid_json_line``, ``too_many_tasks``, ``url_mismatch``,
``model_not_found``, ``model_mismatch``, ``duplicate_custom_id``, ``empty_file`` and
``invalid_request`` (bad line schema, a non-batch deployment, a completion window
other than ``24h``). Lines may use either url form (``/chat/completions`` or
``/v1/chat/completions``) but must all use the same one; the batch's ``endpoint``
parameter is not compared with them, because the service reads the file to decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import orjson

from batchport_emulator.azure.config import BATCH_TYPES, AzureConfig
from batchport_emulator.batch_params import (
    CreateParams,
    check_create_keys,
    check_metadata,
    parse_expires_after,
    required_string,
)
from batchport_emulator.errors import ApiError, invalid_value
from batchport_emulator.validation import REQUIRED_LINE_KEYS, InputPlan, LineChecker

BOM = b"\xef\xbb\xbf"
ENDPOINTS: tuple[str, ...] = (
    "/chat/completions",
    "/responses",
    "/v1/chat/completions",
    "/v1/responses",
)
OUTPUT_EXPIRY_MIN_S = 1_209_600  # 14 days
OUTPUT_EXPIRY_MAX_S = 2_592_000  # 30 days
_BODY_FIELDS = {"/chat/completions": ("model", "messages"), "/responses": ("model", "input")}
BOM_MESSAGE = (
    "Validation failed: A valid model deployment name couldn't be extracted from the input "
    "file. Please ensure that each row in the input file has a valid deployment name "
    "specified in the 'model' field, and that the deployment name is consistent across "
    "all rows."
)
_DUPLICATE = (
    "The custom_id '{custom_id:.128}' is a duplicate of another request in the input file. "
    "Each custom_id must be unique."
)
EMPTY_MESSAGE = (
    "The input file is empty. Please ensure that the batch contains at least one request."
)


def short_url(url: object) -> str | None:
    """``/v1/chat/completions`` and ``/chat/completions`` -> ``/chat/completions``."""
    if not isinstance(url, str):
        return None
    return url[3:] if url.startswith("/v1/") else url


def check_expiry_range(seconds: int | None, param: str) -> None:
    """Azure's documented expiry range for files and outputs is 14 to 30 days."""
    if seconds is not None and not OUTPUT_EXPIRY_MIN_S <= seconds <= OUTPUT_EXPIRY_MAX_S:
        raise ApiError(
            400,
            f"Invalid '{param}': the expiration must be between {OUTPUT_EXPIRY_MIN_S} and "
            f"{OUTPUT_EXPIRY_MAX_S} seconds (14 to 30 days), got {seconds}.",
            param=param,
            code="invalid_value",
        )


def parse_create_params(body: Any) -> CreateParams:
    """Validate an Azure create-batch body; raises :class:`ApiError` 400 on the first fault.

    Any ``completion_window`` string passes here: Azure fails the job afterwards.
    """
    body = check_create_keys(body, note=" (Blob storage input is not emulated.)")
    input_file_id = required_string(body, "input_file_id")
    endpoint = required_string(body, "endpoint")
    if endpoint not in ENDPOINTS:
        raise invalid_value("endpoint", endpoint[:256], ENDPOINTS)
    output_expiry = parse_expires_after(body.get("output_expires_after"), "output_expires_after")
    check_expiry_range(output_expiry, "output_expires_after.seconds")
    return CreateParams(
        input_file_id=input_file_id,
        endpoint=endpoint,
        completion_window=required_string(body, "completion_window"),
        metadata=check_metadata(body.get("metadata")),
        output_expires_after_s=output_expiry,
    )


class _Checker(LineChecker):
    def __init__(self, config: AzureConfig, max_errors: int) -> None:
        super().__init__(max_errors)
        self.config = config
        self.url: str | None = None

    def check_line(self, raw: bytes, line: int) -> None:
        row = self.parse_row(raw, line)
        if row is None:
            return
        missing = [k for k in REQUIRED_LINE_KEYS if k not in row]
        if missing:
            self.error(
                "invalid_request", f"Missing required parameter: '{missing[0]}'.", missing[0], line
            )
            return
        self._check_envelope(row, line)

    def _check_envelope(self, row: dict[str, Any], line: int) -> None:
        custom_id, method, url, body = (row[k] for k in REQUIRED_LINE_KEYS)
        self.check_custom_id(custom_id, line, _DUPLICATE)
        if method != "POST":
            self.error("invalid_request", "Only POST requests are supported.", "method", line)
        self._check_url(url, line)
        if not isinstance(body, Mapping):
            self.error("invalid_request", "The request body must be a JSON object.", "body", line)
            return
        self._check_body(body, short_url(url), line)

    def _check_url(self, url: Any, line: int) -> None:
        if not isinstance(url, str) or url not in ENDPOINTS:
            self.error(
                "url_mismatch",
                f"The url '{str(url)[:128]}' is not supported for batch. Use "
                "'/chat/completions' or '/responses' (optionally with a '/v1' prefix).",
                "url",
                line,
            )
        elif self.url is None:
            self.url = url
        elif url != self.url:
            self.error(
                "url_mismatch",
                f"The url '{url}' does not match the url '{self.url}' of the other requests "
                "in the input file.",
                "url",
                line,
            )

    def _check_body(self, body: Mapping[str, Any], url: str | None, line: int) -> None:
        for key in _BODY_FIELDS.get(url or "", ("model",)):
            if body.get(key) is None:
                self.error(
                    "invalid_request", f"'{key}' is a required property.", f"body.{key}", line
                )
        if body.get("stream") is True:
            self.error(
                "invalid_request", "Streaming is not supported in batch.", "body.stream", line
            )
        model = body.get("model")
        if isinstance(model, str):
            if self.plan.model is None:
                self.plan.model = model
            elif model != self.plan.model:
                self.error(
                    "model_mismatch",
                    f"The deployment '{model[:64]}' does not match the deployment "
                    f"'{self.plan.model}' of the other requests. All requests in an input "
                    "file must use the same deployment.",
                    "body.model",
                    line,
                )

    def finish(self, completion_window: str) -> InputPlan:
        plan = self.plan
        if plan.total == 0 and not plan.errors:
            self.error("empty_file", EMPTY_MESSAGE, None, None)
        elif plan.total > self.config.max_requests_per_batch:
            self.error(
                "too_many_tasks",
                f"The input file contains {plan.total:,} requests; the maximum is "
                f"{self.config.max_requests_per_batch:,} requests per file.",
                None,
                None,
            )
        if completion_window != "24h":
            self.error(
                "invalid_request",
                f"The completion window '{completion_window[:32]}' is not supported; "
                "it must be '24h'.",
                "completion_window",
                None,
            )
        if plan.model is not None and not plan.errors:
            self._check_deployment(plan.model)
        return plan

    def _check_deployment(self, name: str) -> None:
        deployment = self.config.deployment(name)
        if deployment is None:
            self.error(
                "model_not_found",
                f"The model deployment '{name[:64]}' was not found in this resource. Use the "
                "name of a GlobalBatch or DataZoneBatch deployment in the 'model' field.",
                "body.model",
                None,
            )
        elif deployment.type not in BATCH_TYPES:
            self.error(
                "invalid_request",
                f"The deployment SKU of '{name}' is invalid: '{deployment.type}'. The "
                "deployment SKU must be 'GlobalBatch' or 'DataZoneBatch' for batch.",
                "body.model",
                None,
            )


def validate_input(
    fp: IO[bytes], *, completion_window: str, config: AzureConfig, max_errors: int = 1_000
) -> InputPlan:
    """Read ``fp`` from the start, line by line; ``plan.errors`` is empty when it may run.

    A file starting with a UTF-8 byte order mark fails at once with Azure's misleading
    message. Blank lines are skipped; line numbers are physical and 1-based.
    """
    checker = _Checker(config, max_errors)
    if fp.read(len(BOM)) == BOM:
        checker.error("invalid_request", BOM_MESSAGE, None, None)
        return checker.plan
    fp.seek(0)
    checker.scan(fp)
    return checker.finish(completion_window)


def first_model(fp: IO[bytes], max_bytes: int = 1 << 20) -> str | None:
    """``body.model`` of the first request line (for the fail-fast quota estimate)."""
    for raw in fp:
        if raw.strip():
            try:
                row = orjson.loads(raw[:max_bytes].strip().removeprefix(BOM))
            except orjson.JSONDecodeError:
                return None
            body = row.get("body") if isinstance(row, dict) else None
            model = body.get("model") if isinstance(body, dict) else None
            return model if isinstance(model, str) else None
    return None
