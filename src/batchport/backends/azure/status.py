"""Azure OpenAI's batch statuses onto the neutral ones: OpenAI's, plus the US
spellings ``canceling``/``canceled`` some Azure API versions send."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from batchport.backends.models import JobStatus
from batchport.backends.openai.status import STATUS_MAP as OPENAI_STATUS_MAP

__all__ = ["STATUS_MAP"]

STATUS_MAP: Mapping[str, JobStatus] = MappingProxyType(
    {
        **OPENAI_STATUS_MAP,
        "canceling": JobStatus.CANCELLING,
        "canceled": JobStatus.CANCELLED,
    }
)
