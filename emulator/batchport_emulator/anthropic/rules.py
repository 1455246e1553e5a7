"""Anthropic's behaviour: requests arrive inline, every request gets exactly one result
line, no batch ever fails as a whole, ids are ``msgbatch_01...``.

Only what differs from :class:`~batchport_emulator.dialects.rules.DialectRules` is here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import IO

from batchport_emulator.anthropic.envelope import write_requests
from batchport_emulator.batches import Batch, FaultPlan
from batchport_emulator.dialects.rules import DialectRules
from batchport_emulator.ids import IdFactory
from batchport_emulator.validation import InputPlan, LineChecker


class _Lines(LineChecker):
    """Indexes the input file the create handler wrote (already checked)."""

    def check_line(self, raw: bytes, line: int) -> None:
        return None


class AnthropicRules(DialectRules):
    input_purpose = "message_batch_requests"
    result_purpose = "message_batch_results"
    every_row_answered = True

    def batch_id(self, ids: IdFactory) -> str:
        return "msgbatch_01" + ids.base58(22)

    def file_id(self, ids: IdFactory, purpose: str) -> str:
        return "file_01" + ids.base58(22)  # internal only: never shown to clients

    def deadline(self, now: float) -> float:
        return now + self._config().anthropic.expires_after_s

    def adjust_faults(self, plan: FaultPlan) -> FaultPlan:
        # a message batch cannot fail as a whole; a stuck or stalled one still expires
        return replace(plan, fail_validation=False)

    def inline_input(self, raw: bytes, out: IO[bytes]) -> int:
        limit = self._config().anthropic.max_requests_per_batch
        return write_requests(raw, out, max_requests=limit)

    def validate(self, fh: IO[bytes], batch: Batch) -> InputPlan:
        checker = _Lines(max_errors=1)
        checker.scan(fh)
        return checker.plan
