"""batchport: one interface over LLM batch APIs (OpenAI, Azure OpenAI, local emulator).

Names are imported lazily so that ``import batchport`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "BatchportError": "batchport.errors",
    "InputError": "batchport.errors",
    "ValidationFailed": "batchport.errors",
    "ConfigError": "batchport.errors",
    "BackendError": "batchport.errors",
    "RunError": "batchport.errors",
    "ResultLineError": "batchport.errors",
    # requests, files, builder, validation
    "Request": "batchport.requests",
    "Endpoint": "batchport.requests",
    "BatchBuilder": "batchport.builder",
    "BatchWriter": "batchport.writer",
    "ProviderProfile": "batchport.limits",
    "PROVIDERS": "batchport.limits",
    "get_profile": "batchport.limits",
    "read_requests": "batchport.jsonl",
    "write_requests": "batchport.jsonl",
    "validate_file": "batchport.validate",
    "Problem": "batchport.validate",
    "ValidationReport": "batchport.validate",
    "GroupKey": "batchport.builder",
    "Rule": "batchport.limits",
    "iter_lines": "batchport.jsonl",
    "atomic_writer": "batchport.jsonl",
    "WriteStats": "batchport.jsonl",
    "estimate_input_tokens": "batchport.tokens",
    "estimate_output_tokens": "batchport.tokens",
    # backends
    "Backend": "batchport.backends",
    "Checkpoint": "batchport.backends",
    "Job": "batchport.backends",
    "JobStatus": "batchport.backends",
    "ShardSpec": "batchport.backends",
    "BatchError": "batchport.backends",
    "RequestCounts": "batchport.backends",
    "Usage": "batchport.backends",
    "get_backend": "batchport.backends",
    "register_backend": "batchport.backends",
    "available_backends": "batchport.backends",
    "OpenAIBackend": "batchport.backends.openai",
    "EmulatorBackend": "batchport.backends.emulator",
    "MemoryBackend": "batchport.backends.memory",
    "AzureBackend": "batchport.backends.azure",
    "Deployment": "batchport.backends.azure",
    "QuotaLimit": "batchport.backends",
    "RequestChecker": "batchport.validate",
    "NotFoundError": "batchport.errors",
    "RateLimitError": "batchport.errors",
    "QuotaExceededError": "batchport.errors",
    "AuthenticationError": "batchport.errors",
    "ServerError": "batchport.errors",
    "TransportError": "batchport.errors",
    "ResultRow": "batchport.backends",
    "RowError": "batchport.backends",
    "SyncBackend": "batchport.sync",
    # runner
    "run": "batchport.runner",
    "run_sync": "batchport.runner",
    "resume": "batchport.runner",
    "resume_sync": "batchport.runner",
    "cancel": "batchport.runner",
    "cancel_sync": "batchport.runner",
    "plan": "batchport.runner",
    "open_run": "batchport.runner",
    "Run": "batchport.runner",
    "RunResult": "batchport.runner",
    "RunOptions": "batchport.runner",
    "Outcome": "batchport.backends",
    "Plan": "batchport.runner",
    "InstantClock": "batchport.runner",
    "PriceTable": "batchport.pricing",
    "Cost": "batchport.pricing",
    # store
    "RunStore": "batchport.store",
    "SQLiteStore": "batchport.store",
    "Store": "batchport.store",
    "BlobStore": "batchport.store",
    "LocalBlobs": "batchport.store",
    # realtime
    "run_realtime": "batchport.realtime",
    "RealtimeOptions": "batchport.realtime",
    "RealtimeRun": "batchport.realtime",
    # webhooks
    "WebhookOptions": "batchport.webhooks",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'batchport' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from batchport.backends import Backend as Backend
    from batchport.backends import BatchError as BatchError
    from batchport.backends import Checkpoint as Checkpoint
    from batchport.backends import Job as Job
    from batchport.backends import JobStatus as JobStatus
    from batchport.backends import Outcome as Outcome
    from batchport.backends import RequestCounts as RequestCounts
    from batchport.backends import ResultRow as ResultRow
    from batchport.backends import RowError as RowError
    from batchport.backends import ShardSpec as ShardSpec
    from batchport.backends import Usage as Usage
    from batchport.backends import available_backends as available_backends
    from batchport.backends import get_backend as get_backend
    from batchport.backends import register_backend as register_backend
    from batchport.backends.emulator import EmulatorBackend as EmulatorBackend
    from batchport.backends.memory import MemoryBackend as MemoryBackend
    from batchport.backends.openai import OpenAIBackend as OpenAIBackend
    from batchport.builder import BatchBuilder as BatchBuilder
    from batchport.builder import GroupKey as GroupKey
    from batchport.errors import (
        BackendError as BackendError,
    )
    from batchport.errors import (
        BatchportError as BatchportError,
    )
    from batchport.errors import (
        ConfigError as ConfigError,
    )
    from batchport.errors import (
        InputError as InputError,
    )
    from batchport.errors import (
        RunError as RunError,
    )
    from batchport.errors import (
        ValidationFailed as ValidationFailed,
    )
    from batchport.jsonl import WriteStats as WriteStats
    from batchport.jsonl import atomic_writer as atomic_writer
    from batchport.jsonl import iter_lines as iter_lines
    from batchport.jsonl import read_requests as read_requests
    from batchport.jsonl import write_requests as write_requests
    from batchport.limits import PROVIDERS as PROVIDERS
    from batchport.limits import ProviderProfile as ProviderProfile
    from batchport.limits import Rule as Rule
    from batchport.limits import get_profile as get_profile
    from batchport.realtime import RealtimeOptions as RealtimeOptions
    from batchport.realtime import RealtimeRun as RealtimeRun
    from batchport.realtime import run_realtime as run_realtime
    from batchport.requests import Endpoint as Endpoint
    from batchport.requests import Request as Request
    from batchport.store import BlobStore as BlobStore
    from batchport.store import LocalBlobs as LocalBlobs
    from batchport.store import RunStore as RunStore
    from batchport.store import SQLiteStore as SQLiteStore
    from batchport.store import Store as Store
    from batchport.sync import SyncBackend as SyncBackend
    from batchport.tokens import estimate_input_tokens as estimate_input_tokens
    from batchport.tokens import estimate_output_tokens as estimate_output_tokens
    from batchport.validate import Problem as Problem
    from batchport.validate import ValidationReport as ValidationReport
    from batchport.validate import validate_file as validate_file
    from batchport.webhooks import WebhookOptions as WebhookOptions
    from batchport.writer import BatchWriter as BatchWriter
