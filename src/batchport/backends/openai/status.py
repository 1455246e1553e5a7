"""OpenAI's batch statuses onto the neutral ones (anything else is ``UNKNOWN``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from batchport.backends.models import JobStatus

__all__ = ["STATUS_MAP"]

STATUS_MAP: Mapping[str, JobStatus] = MappingProxyType(
    {
        "validating": JobStatus.VALIDATING,
        "in_progress": JobStatus.IN_PROGRESS,
        "finalizing": JobStatus.FINALIZING,
        "completed": JobStatus.COMPLETED,
        "failed": JobStatus.FAILED,
        "expired": JobStatus.EXPIRED,
        "cancelling": JobStatus.CANCELLING,
        "cancelled": JobStatus.CANCELLED,
    }
)
