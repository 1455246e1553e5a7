"""OpenAI-shaped wire objects (plain dicts, e.g. an SDK object's ``model_dump()``) ->
neutral models. Shared by every backend on :class:`~batchport.backends.files.FileBackend`.

Tolerant by design: a status missing from the backend's map becomes ``UNKNOWN``,
missing fields their defaults, and an empty-string file id (seen on clean batches)
means "no file".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchport.backends.models import BatchError, Job, JobStatus, RequestCounts, Usage

__all__ = ["QUOTA_CODE", "as_int", "job_from_dict", "map_status", "usage_from", "usage_numbers"]

#: error params naming the batch's input file (a file deleted or expired before the batch)
_INPUT_PARAMS = frozenset({"file_id", "input_file_id"})
#: the error code of an enqueued-token quota refusal (Azure, both forms)
QUOTA_CODE = "token_limit_exceeded"


def as_int(value: object) -> int:
    """``value`` if it is a real int (not a bool), else 0."""
    return value if type(value) is int else 0


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def usage_from(value: object) -> Usage | None:
    """Token usage from a ``usage`` object of any OpenAI shape: chat (``prompt_tokens``,
    ``prompt_tokens_details``...), responses and batches (``input_tokens``,
    ``input_tokens_details``...) or embeddings. None when ``value`` is no object."""
    if type(value) is not dict:  # parsed JSON: a dict or nothing useful (hot path)
        if not isinstance(value, Mapping):
            return None
        value = dict(value)
    return Usage(*usage_numbers(value))


def usage_numbers(usage: dict[str, Any]) -> tuple[int, int, int, int]:
    """Input, output, cached and reasoning tokens of a ``usage`` dict of any OpenAI
    shape (0 for what it lacks): what :func:`usage_from` reads, without the object."""
    get = usage.get
    inp = get("input_tokens")
    if inp is None:
        inp = get("prompt_tokens")
    out = get("output_tokens")
    if out is None:
        out = get("completion_tokens")
    in_details = get("input_tokens_details") or get("prompt_tokens_details")
    out_details = get("output_tokens_details") or get("completion_tokens_details")
    cached = in_details.get("cached_tokens") if type(in_details) is dict else None
    reasoning = out_details.get("reasoning_tokens") if type(out_details) is dict else None
    return as_int(inp), as_int(out), as_int(cached), as_int(reasoning)


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


def map_status(value: object, status_map: Mapping[str, JobStatus]) -> JobStatus:
    """Look ``value`` up in a backend's status map (case-insensitively); ``UNKNOWN``
    for anything the map does not name."""
    if not isinstance(value, str):
        return JobStatus.UNKNOWN
    return status_map.get(value.strip().lower(), JobStatus.UNKNOWN)


def job_from_dict(raw: Mapping[str, Any], status_map: Mapping[str, JobStatus]) -> Job:
    """Normalize a Batch object (OpenAI or Azure shape) with ``status_map``.

    A failed batch whose errors carry ``token_limit_exceeded`` (Azure's quota check
    after validation) is a quota refusal: :attr:`Job.requeue` holds its message. One
    that failed because its input file is gone (an error on ``file_id``: deleted or
    expired before the batch started) asks for the shard to be uploaded again
    (:attr:`Job.restage`).
    """
    counts = _mapping(raw.get("request_counts"))
    metadata = {str(k): v for k, v in _mapping(raw.get("metadata")).items() if isinstance(v, str)}
    refs = {
        name: ref
        for name, key in (("output", "output_file_id"), ("error", "error_file_id"))
        if (ref := _str(raw.get(key))) is not None
    }
    status = map_status(raw.get("status"), status_map)
    errors = _errors(raw.get("errors"))
    requeue, restage = None, False
    if status is JobStatus.FAILED:
        quota = [e for e in errors if e.code == QUOTA_CODE]
        gone = [e for e in errors if e.param in _INPUT_PARAMS and e.line is None]
        requeue = (quota[0].message or QUOTA_CODE) if quota else None
        if gone and not quota:
            requeue, restage = gone[0].message or "the input file is gone", True
    return Job(
        id=str(raw.get("id") or ""),
        status=status,
        counts=RequestCounts(
            total=as_int(counts.get("total")),
            completed=as_int(counts.get("completed")),
            failed=as_int(counts.get("failed")),
        ),
        refs=refs,
        errors=errors,
        requeue=requeue,
        restage=restage,
        created_at=_seconds(raw.get("created_at")),
        expires_at=_seconds(raw.get("expires_at")),
        metadata=metadata,
        usage=usage_from(raw.get("usage")),
        raw=dict(raw),
    )
