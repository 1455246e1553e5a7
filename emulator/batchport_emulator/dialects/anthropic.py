"""The Anthropic dialect: Message Batches at ``/v1/messages/batches`` and the Messages API
at ``/v1/messages``. Its behaviour is :class:`~batchport_emulator.anthropic.rules.AnthropicRules`;
its shapes live in :mod:`batchport_emulator.anthropic.wire`.

Differences from the OpenAI dialect, each from the wire reference ``anthropic-batches.md``:

- prefix ``/v1/messages``, the longest match inside OpenAI's ``/v1``: the ``anthropic``
  SDK's ``base_url`` is the server root, as for the real service (section 2.1);
- auth: ``x-api-key: <key>`` or ``Authorization: Bearer <token>``; every request needs an
  ``anthropic-version`` header (a 400 without one);
- errors: ``{"type": "error", "error": {type, message}, "request_id"}`` with the type
  taken from the HTTP status (section 2.2), and a ``request-id`` header (``req_011C...``)
  on every response; a 413 has the edge's bare ``{"error": {...}}`` body;
- batches: inline requests, ``processing_status`` and counts as in sections 4.1-4.2,
  RFC 3339 times, one JSONL result stream (section 4.3);
- no files endpoints: the requests and results files are internal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batchport_emulator.anthropic.config import AnthropicConfig
from batchport_emulator.anthropic.rules import AnthropicRules
from batchport_emulator.anthropic.wire import MessageBatchLines, error_envelope, message_batch
from batchport_emulator.batches import Batch
from batchport_emulator.dialects.common import (
    bearer_token,
    file_object,
    key_matches,
    key_principal,
)
from batchport_emulator.dialects.lines import LineWriter
from batchport_emulator.dialects.rules import DialectContext
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord
from batchport_emulator.ids import IdFactory

PREFIX = "/v1/messages"
BATCHES = PREFIX + "/batches"
_NO_KEY = "x-api-key header is required"
_BAD_KEY = "invalid x-api-key"
_NO_VERSION = "anthropic-version: header is required"


def results_path(batch_id: str) -> str:
    return f"{BATCHES}/{batch_id}/results"


class AnthropicDialect:
    name = "anthropic"
    prefixes: tuple[str, ...] = (PREFIX,)
    route_sets: tuple[str, ...] = ("anthropic",)
    upload_status = 200
    request_id_header = "request-id"
    lines: LineWriter = MessageBatchLines()

    def __init__(self, context: DialectContext) -> None:
        self._config = context.config
        self._now = context.now
        self.rules = AnthropicRules(context.config)

    @property
    def settings(self) -> AnthropicConfig:
        return self._config().anthropic

    def request_id(self, ids: IdFactory) -> str:
        return "req_011C" + ids.base58(20)

    def check_auth(self, headers: Mapping[str, str], accepted: Sequence[str]) -> str | None:
        key = headers.get("x-api-key", "").strip() or bearer_token(headers)
        if not key:
            raise ApiError(401, _NO_KEY)
        if not accepted:
            return None
        if not key_matches(key, accepted):
            raise ApiError(401, _BAD_KEY)
        return key_principal(key)

    def check_request(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> None:
        version = headers.get("anthropic-version", "").strip()
        if not version:
            raise ApiError(400, _NO_VERSION)
        accepted = self.settings.api_versions
        if accepted is not None and version not in accepted:
            raise ApiError(400, f"anthropic-version: unknown version '{version[:64]}'")

    def unknown_route(self, method: str, path: str) -> ApiError:
        return ApiError(404, "Not Found")

    def error_body(self, error: ApiError, request_id: str | None = None) -> dict[str, Any]:
        if error.status == 413:  # answered by the edge, before the API (section 2.2)
            return {"error": {"type": "request_too_large", "message": error.message}}
        return error_envelope(error.status, error.message, request_id=request_id)

    def file_object(self, record: FileRecord) -> dict[str, Any]:
        return file_object(record)

    def batch_object(self, batch: Batch) -> dict[str, Any]:
        """The ``MessageBatch`` with a relative ``results_url`` (see :meth:`message_batch`)."""
        return self.message_batch(batch, origin="")

    def message_batch(self, batch: Batch, *, origin: str) -> dict[str, Any]:
        """The ``MessageBatch``; ``origin`` (``http://host:port``) makes ``results_url``
        absolute on the emulator's own address, as the real one is on its own."""
        return message_batch(
            batch,
            now=self._now(),
            results_url=origin + results_path(batch.id),
            retention_s=self.settings.results_retention_s,
        )
