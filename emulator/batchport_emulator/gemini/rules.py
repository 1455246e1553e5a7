"""Gemini's behaviour: requests arrive inline or in an uploaded ``{key, request}`` JSONL
file, every row's line goes to one shuffled output, a batch expires after 48 hours,
ids are lowercase ``batches/...`` and ``files/...`` names.

Only what differs from :class:`~batchport_emulator.dialects.rules.DialectRules` is here.
Both sources are read through one input form, ``{"key", "request"[, "metadata"]}``: an
uploaded file as it is, inline requests as the create handler wrote them (``key`` is
then the request's position and ``metadata`` its own).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import IO, Any

from batchport_emulator.batches import Batch
from batchport_emulator.config import EmulatorConfig
from batchport_emulator.dialects.rules import DialectRules
from batchport_emulator.gemini.envelope import parse_create, write_inline
from batchport_emulator.gemini.uploads import UploadSessions
from batchport_emulator.ids import IdFactory
from batchport_emulator.validation import InputPlan, LineChecker

INPUT_PURPOSE = "gemini_input"
RESULT_PURPOSE = "gemini_output"


class _Lines(LineChecker):
    """Checks ``{key, request}`` lines; a bad line fails the whole batch (a guess: the
    real service's handling of a malformed input file is not documented)."""

    def check_line(self, raw: bytes, line: int) -> None:
        row = self.parse_row(raw, line)
        if row is None:
            return
        key, request = row.get("key"), row.get("request")
        if not isinstance(key, str) or not key:
            self.error("invalid_request", f"Line {line}: 'key' must be a non-empty string.",
                       "key", line)  # fmt: skip
        elif not isinstance(request, dict):
            self.error("invalid_request", f"Line {line}: 'request' must be a "
                       "GenerateContentRequest object.", "request", line)  # fmt: skip


class GeminiRules(DialectRules):
    input_purpose = INPUT_PURPOSE
    result_purpose = RESULT_PURPOSE
    default_file_expiry = False

    def __init__(self, config: Callable[[], EmulatorConfig]) -> None:
        super().__init__(config)
        #: finished inline batches' rendered responses, by batch id (a few, newest last)
        self.inline_cache: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        #: resumable uploads in progress
        self.uploads = UploadSessions()

    def batch_id(self, ids: IdFactory) -> str:
        return ids.base36(36)

    def file_id(self, ids: IdFactory, purpose: str) -> str:
        return ids.base36(12)

    def deadline(self, now: float) -> float:
        return now + self._config().gemini.expires_after_s

    def inline_input(self, raw: bytes, out: IO[bytes]) -> int:
        body = parse_create(raw, max_requests=self._config().gemini.max_requests_per_batch)
        return write_inline(body.requests or [], out)

    def validate(self, fh: IO[bytes], batch: Batch) -> InputPlan:
        checker = _Lines(max_errors=self._config().limits.max_validation_errors)
        checker.scan(fh)
        return checker.plan

    def input_row(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": row.get("key"), "body": row.get("request")}

    def clear(self) -> None:
        self.inline_cache.clear()
        self.uploads.clear()
