"""Fault policy: which batches, rows and calls fail, decided deterministically.

Every draw hashes the fault ``seed`` with stable keys (the batch's sequence
number, the row's ``custom_id``, the API call's sequence number), so the same
configuration and the same traffic give the same failures, run after run, and
a retried row in a new batch gets a fresh draw.
"""

from __future__ import annotations

import hashlib
from typing import Any

from batchport_emulator.batches import FaultPlan
from batchport_emulator.config import FaultConfig
from batchport_emulator.errors import ApiError, error_for_status


def unit_draw(*parts: object) -> float:
    """A uniform number in [0, 1) that depends only on ``parts``."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class FaultPolicy:
    """Draws faults for one configuration; cheap to rebuild when config changes."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self._api_calls = 0

    def plan_batch(self, batch_seq: int) -> FaultPlan:
        """Decide at creation whether a batch fails validation, sticks, or expires."""
        c = self.config
        draw = unit_draw(self.seed, "batch", batch_seq)
        if draw < c.fail_validation_rate:
            return FaultPlan(fail_validation=True)
        draw -= c.fail_validation_rate
        if draw < c.stuck_validating_rate:
            return FaultPlan(stuck_validating=True)
        draw -= c.stuck_validating_rate
        if draw < c.expire_rate:
            return FaultPlan(stall_fraction=c.expire_progress)
        return FaultPlan()

    def row_failure(self, batch_seq: int, custom_id: str) -> int | None:
        """The HTTP status a row is forced to fail with, or ``None``."""
        c = self.config
        if c.row_failure_rate <= 0:
            return None
        if unit_draw(self.seed, "row", batch_seq, custom_id) >= c.row_failure_rate:
            return None
        pick = unit_draw(self.seed, "row-kind", batch_seq, custom_id)
        return c.row_failure_statuses[int(pick * len(c.row_failure_statuses))]

    def api_fault(self) -> str | None:
        """For the next API call: ``"500"``, ``"429"``, ``"drop"`` or ``None``."""
        c = self.config
        if c.api_error_rate <= 0:
            return None
        self._api_calls += 1
        if unit_draw(self.seed, "api", self._api_calls) >= c.api_error_rate:
            return None
        pick = unit_draw(self.seed, "api-kind", self._api_calls)
        return c.api_error_kinds[int(pick * len(c.api_error_kinds))]

    def webhook_fault(self, delivery_seq: int) -> str | None:
        """For one webhook delivery: ``"drop"``, ``"delay"``, ``"duplicate"``,
        ``"reorder"`` or ``None``."""
        c = self.config
        draw = unit_draw(self.seed, "webhook", delivery_seq)
        for kind, rate in (
            ("drop", c.webhook_drop_rate),
            ("delay", c.webhook_delay_rate),
            ("duplicate", c.webhook_duplicate_rate),
            ("reorder", c.webhook_reorder_rate),
        ):
            if draw < rate:
                return kind
            draw -= rate
        return None

    def api_error(self, kind: str) -> ApiError:
        """The error answered for an injected ``"500"`` or ``"429"`` API fault."""
        if kind == "429":
            ms = self.config.api_retry_after_ms
            err = error_for_status(429)
            err.headers.update(
                {"retry-after-ms": str(ms), "retry-after": f"{max(ms / 1000, 0.001):g}"}
            )
            return err
        return error_for_status(500)


def row_error_body(status: int) -> dict[str, Any]:
    """The response body written for a row forced to fail with ``status``."""
    return error_for_status(status).envelope()
