"""Backends: the provider seam, its neutral models, and backends by name.

- :class:`Backend`, :class:`Checkpoint` — the interface (:mod:`.base`).
- :class:`Job`, :class:`JobStatus`, :class:`ResultRow`, :class:`ShardSpec`,
  :class:`Outcome` ... — what crosses it (:mod:`.models`).
- :func:`get_backend`, :func:`register_backend` ... — the registry (:mod:`.registry`).

Concrete backends live in their own modules and are imported only when asked for:
``openai``, ``azure``, ``emulator``, ``memory`` (and
:class:`~batchport.backends.files.FileBackend`, the base of the OpenAI-shaped ones).
"""

from __future__ import annotations

from batchport.backends.base import Backend, Checkpoint
from batchport.backends.models import (
    BatchError,
    Job,
    JobStatus,
    Outcome,
    QuotaLimit,
    RequestCounts,
    ResultRow,
    RowError,
    ShardSpec,
    Usage,
)
from batchport.backends.registry import (
    DEFAULT_BACKEND,
    ENTRY_POINT_GROUP,
    ENV_VAR,
    available_backends,
    get_backend,
    load_backend,
    register_backend,
)

__all__ = [
    "DEFAULT_BACKEND",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "Backend",
    "BatchError",
    "Checkpoint",
    "Job",
    "JobStatus",
    "Outcome",
    "QuotaLimit",
    "RequestCounts",
    "ResultRow",
    "RowError",
    "ShardSpec",
    "Usage",
    "available_backends",
    "get_backend",
    "load_backend",
    "register_backend",
]
