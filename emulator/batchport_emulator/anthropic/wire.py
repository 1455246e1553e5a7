"""Anthropic's wire shapes: error envelopes, RFC 3339 times, the ``MessageBatch`` object
and result lines. Section numbers refer to the wire reference ``anthropic-batches.md``.

The shared :class:`~batchport_emulator.batches.Batch` is mapped, never forked:
``validating``/``in_progress``/``finalizing`` show as ``in_progress``, ``cancelling`` as
``canceling``, every terminal status as ``ended``. ``counts.completed`` are the
succeeded requests, ``counts.failed`` the errored ones; the rest of an ended batch were
canceled (cancelled batch) or expired (expired batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from batchport_emulator.batches import Batch
from batchport_emulator.lifecycle import Status

#: HTTP status -> ``error.type`` (section 2.2); other 4xx are invalid_request_error
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
#: what an error of each type says when nothing more specific is known
DEFAULT_MESSAGES: dict[str, str] = {
    "overloaded_error": "Overloaded",
    "api_error": "Internal server error",
    "rate_limit_error": "Number of requests has exceeded your rate limit.",
    "not_found_error": "Not found",
    "timeout_error": "Request timed out",
}
ARCHIVE_AFTER_S = 29 * 86_400
_PHASE = {
    Status.VALIDATING: "in_progress",
    Status.IN_PROGRESS: "in_progress",
    Status.FINALIZING: "in_progress",
    Status.CANCELLING: "canceling",
}
_UNRUN = {"batch_cancelled": "canceled", "batch_expired": "expired"}


def error_type(status: int) -> str:
    """The ``error.type`` of an HTTP status (section 2.2)."""
    known = ERROR_TYPES.get(status)
    if known is not None:
        return known
    return "api_error" if status >= 500 else "invalid_request_error"


def error_envelope(
    status: int, message: str | None = None, *, request_id: str | None = None
) -> dict[str, Any]:
    """``{"type": "error", "error": {type, message}}``, with ``request_id`` when given."""
    kind = error_type(status)
    text = message or DEFAULT_MESSAGES.get(kind, f"Request failed with status {status}.")
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": text}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def as_error_envelope(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """A responder's error body in Anthropic's envelope: kept when it already is one,
    rebuilt from its message (an OpenAI ``{"error": {...}}`` body, say) otherwise."""
    if body.get("type") == "error" and isinstance(body.get("error"), Mapping):
        return dict(body)
    inner = body.get("error")
    message = inner.get("message") if isinstance(inner, Mapping) else None
    return error_envelope(status, message if isinstance(message, str) else None)


def rfc3339(timestamp: float | None) -> str | None:
    """``2024-08-20T18:37:24.100435Z`` for a Unix time; ``None`` stays ``None``."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def archived(batch: Batch, now: float, retention_s: float) -> bool:
    """Whether the batch's results are no longer available (``retention_s`` after
    ``created_at``, section 3.6); only an ended batch is archived."""
    return batch.terminal and now >= batch.created_at + retention_s


def request_counts(batch: Batch) -> dict[str, int]:
    """Section 4.2: everything is ``processing`` until the batch ends; then the final
    split. The sum is always the number of requests."""
    total = batch.counts.total
    counts = {"processing": total, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if batch.terminal:
        done, failed = batch.counts.completed, batch.counts.failed
        unrun = max(0, total - done - failed)
        counts.update(processing=0, succeeded=done, errored=failed)
        counts["expired" if batch.status is Status.EXPIRED else "canceled"] = unrun
    return counts


def ended_at(batch: Batch) -> int | None:
    if not batch.terminal:
        return None
    stamps = [batch.timestamps.get(f) for f in ("completed_at", "expired_at", "cancelled_at")]
    stamps.append(batch.timestamps.get("failed_at"))
    return next((s for s in stamps if s is not None), None)


def message_batch(
    batch: Batch, *, now: float, results_url: str | None, retention_s: float
) -> dict[str, Any]:
    """The ``MessageBatch`` object (section 4.1), every key present.

    ``results_url`` is shown once the batch has ended; ``archived_at`` once its results
    are past ``retention_s`` after ``created_at``.
    """
    is_archived = archived(batch, now, retention_s)
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": _PHASE.get(batch.status, "ended"),
        "request_counts": request_counts(batch),
        "ended_at": rfc3339(ended_at(batch)),
        "created_at": rfc3339(batch.created_at),
        "expires_at": rfc3339(batch.expires_at),
        "archived_at": rfc3339(batch.created_at + retention_s) if is_archived else None,
        "cancel_initiated_at": rfc3339(batch.timestamps.get("cancelling_at")),
        "results_url": results_url if batch.terminal else None,
    }


class MessageBatchLines:
    """Result lines ``{"custom_id", "result": {...}}`` (section 4.3), all in one file so
    that their order is the shuffled order the rows ran in."""

    one_file = True

    def ran(
        self,
        *,
        line_id: str,
        custom_id: str,
        status_code: int,
        request_id: str,
        body: Mapping[str, Any],
    ) -> bytes:
        """``succeeded`` with the message, or ``errored`` with the (doubly nested)
        error envelope."""
        if 200 <= status_code < 300:
            result: dict[str, Any] = {"type": "succeeded", "message": body}
        else:
            result = {"type": "errored", "error": as_error_envelope(status_code, body)}
        return _line(custom_id, result)

    def unrun(self, *, line_id: str, custom_id: str, code: str, message: str) -> bytes:
        """``canceled`` or ``expired``: nothing but the type."""
        return _line(custom_id, {"type": _UNRUN.get(code, "canceled")})


def _line(custom_id: str, result: Mapping[str, Any]) -> bytes:
    return orjson.dumps(
        {"custom_id": custom_id, "result": result}, option=orjson.OPT_APPEND_NEWLINE
    )
