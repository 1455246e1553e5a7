"""Provider payloads (plain dicts, e.g. an SDK object's ``model_dump()``) -> frozen models.

Shared by every OpenAI-shaped backend (OpenAI, Azure, the emulator). Tolerant by
design: unknown statuses become ``UNKNOWN``, missing fields their defaults, and an
empty-string file id (seen on clean batches) means "no file".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchport.backends.base import (
    BatchError,
    BatchJob,
    BatchStatus,
    FileRef,
    RequestCounts,
    Usage,
)

__all__ = ["batch_job_from_dict", "file_ref_from_dict"]

_TIMESTAMPS = (
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _ts(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _usage(value: object) -> Usage | None:
    if not isinstance(value, Mapping):
        return None
    in_details = _mapping(value.get("input_tokens_details"))
    out_details = _mapping(value.get("output_tokens_details"))
    return Usage(
        input_tokens=_int(value.get("input_tokens", value.get("prompt_tokens"))),
        output_tokens=_int(value.get("output_tokens", value.get("completion_tokens"))),
        cached_tokens=_int(in_details.get("cached_tokens")),
        reasoning_tokens=_int(out_details.get("reasoning_tokens")),
    )


def _errors(value: object) -> tuple[BatchError, ...]:
    data = value.get("data") if isinstance(value, Mapping) else None
    if not isinstance(data, list):
        return ()
    out = []
    for item in data:
        if not isinstance(item, Mapping):
            continue
        line, message = item.get("line"), item.get("message")
        out.append(
            BatchError(
                code=_str(item.get("code")) or "unknown",
                message=message if isinstance(message, str) else "",
                param=_str(item.get("param")),
                line=line if isinstance(line, int) and not isinstance(line, bool) else None,
            )
        )
    return tuple(out)


def batch_job_from_dict(raw: Mapping[str, Any]) -> BatchJob:
    """Normalize a Batch object (OpenAI or Azure shape)."""
    counts = _mapping(raw.get("request_counts"))
    metadata = {str(k): v for k, v in _mapping(raw.get("metadata")).items() if isinstance(v, str)}
    stamps = {name: _ts(raw.get(name)) for name in _TIMESTAMPS}
    return BatchJob(
        id=str(raw.get("id", "")),
        status=BatchStatus.parse(raw.get("status")),
        endpoint=_str(raw.get("endpoint")),
        input_file_id=str(raw.get("input_file_id") or ""),
        model=_str(raw.get("model")),
        output_file_id=_str(raw.get("output_file_id")),
        error_file_id=_str(raw.get("error_file_id")),
        request_counts=RequestCounts(
            total=_int(counts.get("total")),
            completed=_int(counts.get("completed")),
            failed=_int(counts.get("failed")),
        ),
        metadata=metadata,
        usage=_usage(raw.get("usage")),
        errors=_errors(raw.get("errors")),
        raw=dict(raw),
        **stamps,
    )


def file_ref_from_dict(raw: Mapping[str, Any]) -> FileRef:
    """Normalize a File object (OpenAI or Azure shape)."""
    return FileRef(
        id=str(raw.get("id", "")),
        bytes=_int(raw.get("bytes")),
        filename=str(raw.get("filename") or ""),
        purpose=str(raw.get("purpose") or ""),
        status=_str(raw.get("status")),
        created_at=_ts(raw.get("created_at")),
        expires_at=_ts(raw.get("expires_at")),
        raw=dict(raw),
    )
