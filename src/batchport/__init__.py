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
    # requests, files, builder, validation
    "Request": "batchport.requests",
    "Endpoint": "batchport.requests",
    "BatchBuilder": "batchport.builder",
    "ProviderProfile": "batchport.limits",
    "PROVIDERS": "batchport.limits",
    "get_profile": "batchport.limits",
    "read_requests": "batchport.jsonl",
    "write_requests": "batchport.jsonl",
    "validate_file": "batchport.validate",
    "Problem": "batchport.validate",
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
    from batchport.builder import BatchBuilder as BatchBuilder
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
    from batchport.jsonl import read_requests as read_requests
    from batchport.jsonl import write_requests as write_requests
    from batchport.limits import PROVIDERS as PROVIDERS
    from batchport.limits import ProviderProfile as ProviderProfile
    from batchport.limits import get_profile as get_profile
    from batchport.requests import Endpoint as Endpoint
    from batchport.requests import Request as Request
    from batchport.validate import Problem as Problem
    from batchport.validate import validate_file as validate_file
