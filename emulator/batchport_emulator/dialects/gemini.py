"""The Gemini dialect: the Developer API's Batch mode, Files API and ``generateContent``
under ``/v1beta`` (uploads under ``/upload/v1beta``, downloads also under
``/download/v1beta``; the same under ``v1``, the SDK's default version, see
:mod:`batchport_emulator.app.aliases`). Its behaviour is
:class:`~batchport_emulator.gemini.rules.GeminiRules`; its shapes live in
:mod:`batchport_emulator.gemini.wire`.

Differences from the OpenAI dialect, each from the wire reference
``gemini-and-others.md`` section 2:

- auth: ``x-goog-api-key: <key>`` or ``?key=<key>``; none is a 403
  ``PERMISSION_DENIED``, a wrong one a 400 ``INVALID_ARGUMENT`` with an ``ErrorInfo``
  ``API_KEY_INVALID``. A resumable upload's own URL needs no key (its ``upload_id`` is
  the credential, as on the real service);
- errors: google.rpc.Status ``{"error": {code, message, status[, details]}}``; a 429
  ``RESOURCE_EXHAUSTED`` carries a ``google.rpc.Help`` and never ``Retry-After``;
- batches: long-running Operations named ``batches/<id>`` with ``BATCH_STATE_*``,
  int64-as-string ``batchStats`` and RFC 3339 nanosecond times (section 2.4);
- files: ``files/<id>`` resources through a resumable upload, living 48 hours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from batchport_emulator.batches import Batch
from batchport_emulator.dialects.common import key_matches, key_principal
from batchport_emulator.dialects.lines import LineWriter
from batchport_emulator.dialects.rules import DialectContext
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord
from batchport_emulator.gemini.config import GeminiConfig
from batchport_emulator.gemini.rules import GeminiRules
from batchport_emulator.gemini.wire import (
    RPC_NAMES,
    GeminiLines,
    error_body,
    operation,
    timestamp,
)
from batchport_emulator.ids import IdFactory
from batchport_emulator.lifecycle import Status

PREFIX = "/v1beta"
UPLOAD_PREFIX = "/upload/v1beta"
DOWNLOAD_PREFIX = "/download/v1beta"
#: the SDK's default API version; ``/v1/...`` calls are rerouted (``app.aliases``)
V1_UPLOAD_PREFIX = "/upload/v1"
V1_DOWNLOAD_PREFIX = "/download/v1"
API_KEY_INVALID = "API_KEY_INVALID"
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_BAD_KEY = "API key not valid. Please pass a valid API key."
_KEY_DETAILS = (
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": API_KEY_INVALID,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    },
)
_QUOTA_DETAILS = (
    {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [
            {
                "description": "Learn more about Gemini API quotas",
                "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
            }
        ],
    },
)
#: batch error codes -> HTTP status whose google.rpc code the Operation's error shows
_FAILURE_STATUS = {"token_limit_exceeded": 429, "invalid_request": 400}
_CACHED = 8  # finished inline batches whose rendered responses are kept


class GeminiDialect:
    name = "gemini"
    prefixes: tuple[str, ...] = (
        PREFIX,
        UPLOAD_PREFIX,
        DOWNLOAD_PREFIX,
        V1_UPLOAD_PREFIX,
        V1_DOWNLOAD_PREFIX,
    )
    route_sets: tuple[str, ...] = ("gemini",)
    upload_status = 200
    # Google's front end names no request id; the emulator's own header says what it is.
    request_id_header = "x-emulator-request-id"
    lines: LineWriter = GeminiLines()

    def __init__(self, context: DialectContext) -> None:
        self._config = context.config
        self._files = context.files
        self.rules = GeminiRules(context.config)

    @property
    def settings(self) -> GeminiConfig:
        return self._config().gemini

    def request_id(self, ids: IdFactory) -> str:
        return ids.uuid()

    def check_auth(self, headers: Mapping[str, str], accepted: Sequence[str]) -> str | None:
        return self.check_url_auth("", {}, headers, accepted)

    def check_url_auth(
        self,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        accepted: Sequence[str],
    ) -> str | None:
        if path.startswith(("/upload/v1beta/", "/upload/v1/")) and "upload_id" in query:
            return None  # the session was authorised when it started
        key = headers.get("x-goog-api-key", "").strip() or query.get("key", "").strip()
        if not key:
            raise ApiError(403, _NO_KEY)
        if not accepted:
            return None
        if not key_matches(key, accepted):
            raise ApiError(400, _BAD_KEY, code=API_KEY_INVALID)
        return key_principal(key)

    def check_request(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> None:
        return None

    def unknown_route(self, method: str, path: str) -> ApiError:
        return ApiError(404, f"Method not found: {method} {path[:256]}", code="NOT_FOUND")

    def error_body(self, error: ApiError, request_id: str | None = None) -> dict[str, Any]:
        details: Sequence[Mapping[str, Any]] = ()
        if error.code == API_KEY_INVALID:
            details = _KEY_DETAILS
        elif error.status == 429:
            details = _QUOTA_DETAILS
        message = None if error.status in (429, 500, 503) else error.message
        name = error.code if error.code in RPC_NAMES else None
        return error_body(error.status, message, details, status_name=name)

    def error_headers(self, error: ApiError) -> Mapping[str, str]:
        """The error's headers minus ``Retry-After`` (the real 429s carry none, 2.7)."""
        return {k: v for k, v in error.headers.items() if not k.lower().startswith("retry-after")}

    def file_object(self, record: FileRecord) -> dict[str, Any]:
        return self.file_resource(record, origin="")

    def file_resource(self, record: FileRecord, *, origin: str) -> dict[str, Any]:
        """The ``File`` resource; generated files (batch results) carry ``downloadUri``."""
        extra: dict[str, Any] = {}
        if record.status_details:
            extra = orjson.loads(record.status_details)
        name = "files/" + record.id
        out: dict[str, Any] = {"name": name}
        if extra.get("displayName"):
            out["displayName"] = extra["displayName"]
        out["mimeType"] = extra.get("mimeType", "application/jsonl")
        out["sizeBytes"] = str(record.bytes)
        out["createTime"] = timestamp(record.created_at)
        out["updateTime"] = timestamp(record.created_at)
        if record.expires_at is not None:
            out["expirationTime"] = timestamp(record.expires_at)
        if extra.get("sha256Hash"):
            out["sha256Hash"] = extra["sha256Hash"]
        out["uri"] = f"{origin}{PREFIX}/{name}"
        generated = record.purpose == self.rules.result_purpose
        if generated:
            out["downloadUri"] = f"{origin}{DOWNLOAD_PREFIX}/{name}:download?alt=media"
        out["state"] = "ACTIVE"
        out["source"] = "GENERATED" if generated else "UPLOADED"
        return out

    def batch_object(self, batch: Batch) -> dict[str, Any]:
        return self.operation(batch)

    def operation(self, batch: Batch) -> dict[str, Any]:
        """The batch's Operation; a finished inline batch's responses are read from its
        output (a blocking read: call it off the event loop for a finished batch)."""
        meta = batch.metadata or {}
        error = self._failure(batch)
        output: dict[str, Any] | None = None
        if batch.status in (Status.COMPLETED, Status.CANCELLED) and error is None:
            if meta.get("source") == "inline":
                items = self.inline_responses(batch)
                output = {"inlinedResponses": {"inlinedResponses": items}} if items else None
            elif batch.output_file_id is not None:
                output = {"responsesFile": "files/" + batch.output_file_id}
        return operation(
            batch,
            model=meta.get("model", "models/unknown"),
            display_name=meta.get("displayName"),
            create_time=meta.get("createTime"),
            output=output,
            error=error,
        )

    def _failure(self, batch: Batch) -> dict[str, Any] | None:
        if batch.status is not Status.FAILED:
            return None
        first = batch.errors[0] if batch.errors else None
        status = _FAILURE_STATUS.get(first.code, 400) if first else 400
        body = error_body(status, first.message if first else None)["error"]
        return {"code": {400: 3, 429: 8}.get(status, 3), "message": body["message"]}

    def inline_responses(self, batch: Batch) -> list[dict[str, Any]]:
        """``{response|error, metadata}`` per row of a finished inline batch, in the order
        the rows ran (shuffled, as users see on real jobs, section 2.6)."""
        cache = self.rules.inline_cache
        cached = cache.get(batch.id)
        if cached is not None:
            return cached
        metadata = self._metadata(batch.input_file_id)
        items: list[dict[str, Any]] = []
        record = self._files.find(batch.output_file_id or "")
        if record is not None:
            with open(self._files.content_path(record.id), "rb") as fh:
                for raw in fh:
                    line = orjson.loads(raw)
                    item = {k: line[k] for k in ("response", "error") if k in line}
                    if metadata.get(line.get("key")):  # proto3 JSON leaves an empty map out
                        item["metadata"] = metadata[line["key"]]
                    items.append(item)
        cache[batch.id] = items
        while len(cache) > _CACHED:
            cache.popitem(last=False)
        return items

    def _metadata(self, file_id: str) -> dict[str, dict[str, str]]:
        record = self._files.find(file_id)
        found: dict[str, dict[str, str]] = {}
        if record is None:
            return found
        with open(self._files.content_path(record.id), "rb") as fh:
            for raw in fh:
                line = orjson.loads(raw)
                found[str(line.get("key"))] = line.get("metadata") or {}
        return found
