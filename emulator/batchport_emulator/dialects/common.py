"""What both dialects do alike: reading a bearer token, comparing keys in constant
time, and rendering the file object and the batch object's common fields.

A dialect adds or drops what is its own (OpenAI's ``model`` and ``usage``, Azure's
``expires_at``); key order follows the real APIs' answers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from batchport_emulator.batches import Batch
from batchport_emulator.files import FileRecord


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None`` when the
    header is absent, uses another scheme, or carries an empty token."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def key_matches(value: str, accepted: Sequence[str]) -> bool:
    """Whether ``value`` equals one of ``accepted``, compared in constant time."""
    return any(hmac.compare_digest(value.encode(), ok.encode()) for ok in accepted)


def key_principal(key: str) -> str:
    """Whom an API key stands for, without the key: ``key:`` and a digest prefix (what
    files and batches store to scope them to the credential that made them)."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def file_object(record: FileRecord) -> dict[str, Any]:
    """The file object, every field present (``null`` where empty)."""
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": record.created_at,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": record.status,
        "expires_at": record.expires_at,
        "status_details": record.status_details,
    }


def batch_object(batch: Batch, *, expires_at: int, with_model: bool) -> dict[str, Any]:
    """The batch object up to ``metadata``; ``model`` follows ``endpoint`` when asked for."""
    errors = None
    if batch.errors is not None:
        errors = {
            "object": "list",
            "data": [
                {"code": e.code, "message": e.message, "param": e.param, "line": e.line}
                for e in batch.errors
            ],
        }
    head: dict[str, Any] = {"id": batch.id, "object": "batch", "endpoint": batch.endpoint}
    if with_model:
        head["model"] = batch.model
    return {
        **head,
        "errors": errors,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "status": batch.status.value,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "created_at": batch.created_at,
        "expires_at": expires_at,
        **batch.timestamps,
        "request_counts": {
            "total": batch.counts.total,
            "completed": batch.counts.completed,
            "failed": batch.counts.failed,
        },
        "metadata": batch.metadata,
    }
