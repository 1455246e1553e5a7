"""Gemini's wire shapes: google.rpc.Status errors, RFC 3339 nanosecond times, the batch
Operation and result lines. Section numbers refer to the wire reference
``gemini-and-others.md``.

The shared :class:`~batchport_emulator.batches.Batch` is mapped, never forked:
``validating`` shows as ``BATCH_STATE_PENDING``; ``in_progress``, ``finalizing`` and
``cancelling`` as ``BATCH_STATE_RUNNING``; ``completed`` as ``BATCH_STATE_SUCCEEDED``
(whatever its rows did, section 2.6); the other terminal statuses by name. Zero int64
counts, false booleans and empty lists are left out, as proto3 JSON leaves them out
(the real list item of section 2.4 has no ``failedRequestCount`` and no ``done``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from batchport_emulator.batches import Batch
from batchport_emulator.lifecycle import Status

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
#: HTTP status -> (google.rpc.Code number, its name)
#: rpc names an error may carry as its ``code`` to override the status's usual name
RPC_NAMES = frozenset({"FAILED_PRECONDITION", "OUT_OF_RANGE", "ALREADY_EXISTS"})
RPC_CODES: dict[int, tuple[int, str]] = {
    400: (3, "INVALID_ARGUMENT"),
    401: (16, "UNAUTHENTICATED"),
    403: (7, "PERMISSION_DENIED"),
    404: (5, "NOT_FOUND"),
    408: (4, "DEADLINE_EXCEEDED"),
    409: (10, "ABORTED"),
    413: (3, "INVALID_ARGUMENT"),
    429: (8, "RESOURCE_EXHAUSTED"),
    499: (1, "CANCELLED"),
    500: (13, "INTERNAL"),
    501: (12, "UNIMPLEMENTED"),
    503: (14, "UNAVAILABLE"),
    504: (4, "DEADLINE_EXCEEDED"),
}
DEFAULT_MESSAGES: dict[str, str] = {
    "RESOURCE_EXHAUSTED": "You exceeded your current quota, please check your plan and "
    "billing details.",
    "INTERNAL": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "UNAVAILABLE": "The model is overloaded. Please try again later.",
    "NOT_FOUND": "Requested entity was not found.",
    "DEADLINE_EXCEEDED": "Deadline expired before operation could complete.",
    "INVALID_ARGUMENT": "Request contains an invalid argument.",
    "PERMISSION_DENIED": "The caller does not have permission",
    "UNAUTHENTICATED": "Request had invalid authentication credentials.",
    "CANCELLED": "The operation was cancelled.",
}
_STATES = {
    Status.VALIDATING: "BATCH_STATE_PENDING",
    Status.IN_PROGRESS: "BATCH_STATE_RUNNING",
    Status.FINALIZING: "BATCH_STATE_RUNNING",
    Status.CANCELLING: "BATCH_STATE_RUNNING",
    Status.COMPLETED: "BATCH_STATE_SUCCEEDED",
    Status.FAILED: "BATCH_STATE_FAILED",
    Status.CANCELLED: "BATCH_STATE_CANCELLED",
    Status.EXPIRED: "BATCH_STATE_EXPIRED",
}


def rpc_code(status: int) -> tuple[int, str]:
    """The google.rpc code number and name of an HTTP status."""
    known = RPC_CODES.get(status)
    if known is not None:
        return known
    return (13, "INTERNAL") if status >= 500 else (3, "INVALID_ARGUMENT")


def error_body(
    status: int,
    message: str | None = None,
    details: Sequence[Mapping[str, Any]] = (),
    *,
    status_name: str | None = None,
) -> dict[str, Any]:
    """``{"error": {code, message, status[, details]}}`` (``code`` is the HTTP status;
    ``status_name`` overrides the status's usual rpc name, as ``FAILED_PRECONDITION``
    shares 400 with ``INVALID_ARGUMENT``)."""
    name = status_name or rpc_code(status)[1]
    text = message or DEFAULT_MESSAGES.get(name, f"Request failed with status {status}.")
    inner: dict[str, Any] = {"code": status, "message": text, "status": name}
    if details:
        inner["details"] = [dict(d) for d in details]
    return {"error": inner}


def message_of(body: Mapping[str, Any]) -> str | None:
    """The message of an error body in Google's or OpenAI's envelope, if it has one."""
    inner = body.get("error")
    message = inner.get("message") if isinstance(inner, Mapping) else None
    return message if isinstance(message, str) else None


def row_error(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """A row's error as the batch output shows it: a google.rpc.Status whose ``code`` is
    the rpc code number (``3`` for a 400, section 2.6)."""
    number, name = rpc_code(status)
    return {"code": number, "message": message_of(body) or DEFAULT_MESSAGES.get(name, name)}


def timestamp(value: float | None) -> str | None:
    """RFC 3339 with nanoseconds (``2025-09-01T04:13:24.263450184Z``); ``None`` stays."""
    if value is None:
        return None
    whole = int(value // 1)
    nanos = min(999_999_999, round((value - whole) * 1e9))
    base = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def state_of(batch: Batch) -> str:
    return _STATES[batch.status]


def batch_stats(batch: Batch) -> dict[str, str]:
    """``batchStats`` with int64 values as strings; zero counts left out."""
    total, done, failed = batch.counts.total, batch.counts.completed, batch.counts.failed
    pending = 0 if batch.terminal else max(0, total - done - failed)
    stats = {
        "requestCount": total,
        "successfulRequestCount": done,
        "failedRequestCount": failed,
        "pendingRequestCount": pending,
    }
    return {key: str(value) for key, value in stats.items() if value}


def ended_at(batch: Batch) -> float | None:
    """When a finished batch ended (the precise virtual time of its last move)."""
    return batch.stage_since if batch.terminal else None


def operation(
    batch: Batch,
    *,
    model: str,
    display_name: str | None,
    create_time: str | None,
    output: Mapping[str, Any] | None,
    error: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The long-running Operation of a batch (section 2.4).

    ``output`` (``{"inlinedResponses": {...}}`` or ``{"responsesFile": ...}``) is shown
    under ``metadata.output`` and, once done, as the Operation's ``response`` too;
    ``error`` (a google.rpc.Status) only on a failed batch.
    """
    name = "batches/" + batch.id
    metadata: dict[str, Any] = {"@type": BATCH_TYPE, "model": model}
    if display_name:
        metadata["displayName"] = display_name
    if output is not None:
        metadata["output"] = dict(output)
    metadata["createTime"] = create_time or timestamp(batch.created_at)
    metadata["updateTime"] = timestamp(batch.stage_since)
    if batch.terminal:
        metadata["endTime"] = timestamp(ended_at(batch))
    stats = batch_stats(batch)
    if stats:
        metadata["batchStats"] = stats
    metadata["state"] = state_of(batch)
    metadata["name"] = name
    op: dict[str, Any] = {"name": name, "metadata": metadata}
    if batch.terminal:
        op["done"] = True
        if error is not None:
            op["error"] = dict(error)
        else:
            op["response"] = {"@type": OUTPUT_TYPE, **(output or {})}
    return op


class GeminiLines:
    """Result lines ``{"key", "response"}`` or ``{"key", "error"}`` (section 2.6), all in
    one file so that their order is the shuffled order the rows ran in."""

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
        if 200 <= status_code < 300:
            return _line({"key": custom_id, "response": body})
        return _line({"key": custom_id, "error": row_error(status_code, body)})

    def unrun(self, *, line_id: str, custom_id: str, code: str, message: str) -> bytes:
        """A row a cancel stopped: ``CANCELLED`` (an expired batch shows no output)."""
        return _line({"key": custom_id, "error": {"code": rpc_code(499)[0], "message": message}})


def _line(value: Mapping[str, Any]) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
