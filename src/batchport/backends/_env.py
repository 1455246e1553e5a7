"""Model maps read from the environment (``A=B,C=D``), shared by the backends that map
the caller's model names (Azure deployments, Anthropic and Gemini models)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from batchport.errors import ConfigError

__all__ = ["pairs", "pairs_from_env"]


def pairs(
    items: Iterable[str], where: str, form: str, *, skip_blank: bool = False
) -> dict[str, str]:
    """``key=value`` items as a mapping (blank ones skipped with ``skip_blank``).
    ``where`` (a variable or a flag) and ``form`` (e.g. ``"model=deployment"``) name
    them in the error.

    Raises :class:`ConfigError` for an item that is not ``key=value``."""
    out: dict[str, str] = {}
    for item in items:
        if skip_blank and not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{where}: {item.strip()!r} is not {form}")
        out[key.strip()] = value.strip()
    return out


def pairs_from_env(name: str, form: str) -> dict[str, str]:
    """``$name`` (``A=B,C=D``) as a mapping, empty when unset (see :func:`pairs`)."""
    return pairs(os.environ.get(name, "").split(","), name, form, skip_blank=True)
