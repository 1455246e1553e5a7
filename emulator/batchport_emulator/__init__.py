"""batchport_emulator: a local server that speaks the OpenAI and Azure OpenAI Files and
Batch APIs, Anthropic's Message Batches and Messages APIs and the Gemini Developer API's
Batch mode, Files API and ``generateContent`` (one dialect object each), for offline
development and testing.

Public names are imported lazily, so ``import batchport_emulator`` (which the
pytest plugin does for every test session) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchport_emulator.app import create_app
    from batchport_emulator.config import EmulatorConfig
    from batchport_emulator.server import Emulator, EmulatorThread

__all__ = ["Emulator", "EmulatorConfig", "EmulatorThread", "create_app"]

_EXPORTS = {
    "Emulator": "batchport_emulator.server",
    "EmulatorThread": "batchport_emulator.server",
    "EmulatorConfig": "batchport_emulator.config",
    "create_app": "batchport_emulator.app",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'batchport_emulator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
