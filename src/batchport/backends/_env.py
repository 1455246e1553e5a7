"""Model maps read from the environment (``A=B,C=D``), shared by the backends that map
the caller's model names (Azure deployments, Anthropic and Gemini models)."""

from __future__ import annotations

import os

from batchport.errors import ConfigError

__all__ = ["pairs_from_env"]


def pairs_from_env(name: str, form: str) -> dict[str, str]:
    """``$name`` as a mapping (empty when unset). ``form`` names the two sides for the
    error, e.g. ``"model=deployment"``.

    Raises :class:`ConfigError` for an entry that is not ``key=value``."""
    out: dict[str, str] = {}
    for item in os.environ.get(name, "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{name}: {item.strip()!r} is not {form}")
        out[key.strip()] = value.strip()
    return out
