"""Row outcomes and how a result line is classified into one.

Every input row ends in exactly one :class:`Outcome`. A row that was resubmitted
(``attempts > 1``) and then settled is still one row with one outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["RETRYABLE_STATUS", "Outcome", "Verdict", "classify"]


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    """2xx with a usable body (for ``parse`` requests: it parsed)."""
    REFUSED = "refused"
    """2xx, but the model refused (structured-output refusal)."""
    TRUNCATED = "truncated"
    """2xx, but output stopped at the token limit (finish_reason length / incomplete)."""
    CONTENT_FILTERED = "content_filtered"
    """2xx, but the provider's content filter stopped the output."""
    FAILED = "failed"
    """Permanent failure: a 4xx such as a bad request, or retries exhausted."""
    EXPIRED = "expired"
    """The completion window passed before the row ran, and no retry was left."""
    CANCELLED = "cancelled"
    """The run was cancelled before the row ran."""
    MISSING = "missing"
    """The provider returned no line for the row, and no retry was left."""

    @property
    def ok(self) -> bool:
        return self is Outcome.SUCCEEDED


#: HTTP statuses worth resubmitting in a child batch.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    retryable: bool
    error_code: str | None = None
    error_message: str | None = None


def classify(
    status_code: int | None,
    body: Mapping[str, Any] | None,
    error_code: str | None = None,
    error_message: str | None = None,
    *,
    cancelled_by_runner: bool = False,
) -> Verdict:
    """Classify one output/error line. ``status_code`` is None for non-HTTP errors
    (``batch_expired``, ``batch_cancelled``)."""
    if status_code is None:
        return _classify_unexecuted(error_code, error_message, cancelled_by_runner)
    if 200 <= status_code < 300:
        return _classify_success(body or {})
    code, message = _error_of(body)
    retryable = status_code in RETRYABLE_STATUS or status_code >= 500
    return Verdict(Outcome.FAILED, retryable, code or f"http_{status_code}", message)


def _classify_unexecuted(
    code: str | None, message: str | None, cancelled_by_runner: bool
) -> Verdict:
    if code == "batch_expired":
        return Verdict(Outcome.EXPIRED, True, code, message)
    if code == "batch_cancelled":
        return Verdict(Outcome.CANCELLED, cancelled_by_runner, code, message)
    return Verdict(Outcome.FAILED, False, code or "unknown_error", message)


def _error_of(body: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    err = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(err, Mapping):
        code = err.get("code") or err.get("type")
        msg = err.get("message")
        return (str(code) if code else None, str(msg) if msg is not None else None)
    return None, None


def _classify_success(body: Mapping[str, Any]) -> Verdict:
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return _classify_choice(choices[0])
    if body.get("object") == "response":
        return _classify_response(body)
    return Verdict(Outcome.SUCCEEDED, False)


def _classify_choice(choice: Mapping[str, Any]) -> Verdict:
    reason = choice.get("finish_reason")
    message = choice.get("message")
    if isinstance(message, Mapping) and message.get("refusal"):
        return Verdict(Outcome.REFUSED, False, "refusal", str(message["refusal"]))
    if reason == "length":
        return Verdict(Outcome.TRUNCATED, False, "length", "output hit the token limit")
    if reason == "content_filter":
        return Verdict(
            Outcome.CONTENT_FILTERED, False, "content_filter", "output was content-filtered"
        )
    return Verdict(Outcome.SUCCEEDED, False)


def _classify_response(body: Mapping[str, Any]) -> Verdict:
    for item in body.get("output") or ():
        if not isinstance(item, Mapping):
            continue
        for part in item.get("content") or ():
            if isinstance(part, Mapping) and part.get("type") == "refusal":
                return Verdict(Outcome.REFUSED, False, "refusal", str(part.get("refusal", "")))
    if body.get("status") == "incomplete":
        details = body.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        if reason == "content_filter":
            return Verdict(
                Outcome.CONTENT_FILTERED, False, "content_filter", "output was content-filtered"
            )
        return Verdict(Outcome.TRUNCATED, False, str(reason or "incomplete"), "incomplete output")
    return Verdict(Outcome.SUCCEEDED, False)
