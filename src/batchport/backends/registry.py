"""Backends by name: a registry with lazy imports, install hints and entry points.

Built-in names map to ``"module:Class"`` strings imported only when asked for.
Third-party packages add backends through the entry-point group ``batchport.backends``
(``name = "package.module:Class"``); code can add one with :func:`register_backend`.
:func:`get_backend` turns a name, an instance or nothing into a :class:`Backend`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from batchport.backends.base import Backend
from batchport.errors import ConfigError

__all__ = [
    "DEFAULT_BACKEND",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "available_backends",
    "get_backend",
    "load_backend",
    "register_backend",
]

ENTRY_POINT_GROUP = "batchport.backends"
DEFAULT_BACKEND = "emulator"
ENV_VAR = "BATCHPORT_BACKEND"

BackendFactory = Callable[..., Backend]

_BUILTINS: dict[str, str] = {
    "openai": "batchport.backends.openai:OpenAIBackend",
    "azure": "batchport.backends.azure:AzureBackend",
    "anthropic": "batchport.backends.anthropic:AnthropicBackend",
    "gemini": "batchport.backends.gemini:GeminiBackend",
    "emulator": "batchport.backends.emulator:EmulatorBackend",
    "memory": "batchport.backends.memory:MemoryBackend",
}
# backend name -> (top-level modules of its optional extra, pip requirement)
_EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "azure": (("azure",), "batchport[azure]"),
    "anthropic": (("anthropic",), "batchport[anthropic]"),
    "gemini": (("google",), "batchport[gemini]"),
}
_registered: dict[str, str | BackendFactory] = {}


def register_backend(name: str, target: str | BackendFactory, *, replace: bool = False) -> None:
    """Register ``target`` (a ``"module:attr"`` string or a callable returning a
    :class:`Backend`, usually the class) under ``name``.

    Raises :class:`ConfigError` if ``name`` is taken and ``replace`` is false.
    """
    key = name.strip().lower()
    if not key:
        raise ConfigError("backend name must not be empty")
    if not replace and key in _registered:
        raise ConfigError(f"backend {key!r} is already registered; pass replace=True")
    _registered[key] = target


def _entry_points() -> dict[str, str]:
    return {ep.name.lower(): ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _targets() -> dict[str, str | BackendFactory]:
    # Later sources win: programmatic registration overrides entry points and built-ins.
    return {**_BUILTINS, **_entry_points(), **_registered}


def available_backends() -> list[str]:
    """Every known backend name, sorted. Nothing is imported."""
    return sorted(_targets())


def _import_target(name: str, target: str) -> BackendFactory:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise _missing_module_error(name, module_name, exc) from exc
    try:
        factory = getattr(module, attr) if attr else module
    except AttributeError as exc:
        raise ConfigError(f"backend {name!r}: {module_name} has no attribute {attr!r}") from exc
    if not callable(factory):
        raise ConfigError(f"backend {name!r}: {target} is not callable")
    return factory  # type: ignore[no-any-return]


def _missing_module_error(name: str, module_name: str, exc: ModuleNotFoundError) -> ConfigError:
    missing = exc.name or ""
    extra = _EXTRAS.get(name)
    if extra and missing.split(".")[0] in extra[0]:
        return ConfigError(
            f"backend {name!r} needs the optional dependency {missing!r}: pip install '{extra[1]}'"
        )
    if missing and (module_name == missing or module_name.startswith(missing + ".")):
        return ConfigError(
            f"backend {name!r} is not available yet in this version of batchport "
            f"(module {module_name} is missing)"
        )
    return ConfigError(
        f"backend {name!r} could not be imported: module {missing!r} is missing "
        f"(pip install it, or check the package providing the backend)"
    )


def load_backend(name: str) -> BackendFactory:
    """Return the class (or factory) registered under ``name``, importing it now.

    Raises :class:`ConfigError` for an unknown name (listing the known ones, with a
    close match if there is one) or when the backend's module or extra is missing.
    """
    key = name.strip().lower()
    targets = _targets()
    target = targets.get(key)
    if target is None:
        known = sorted(targets)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown backend {name!r}; known backends: {', '.join(known)}.{hint}")
    if isinstance(target, str):
        return _import_target(key, target)
    return target


def get_backend(spec: str | Backend | None = None, **options: Any) -> Backend:
    """Resolve ``spec`` to a backend instance.

    An instance is returned as is (options are then refused). A name is looked up with
    :func:`load_backend` and built with ``options``. None means the ``BATCHPORT_BACKEND``
    environment variable, then ``"emulator"``.

    Raises :class:`ConfigError` for unknown names, missing extras, or options the
    backend does not accept.
    """
    if isinstance(spec, Backend):
        if options:
            raise ConfigError("options cannot be combined with a backend instance")
        return spec
    if spec is None:
        spec = os.environ.get(ENV_VAR, "").strip() or DEFAULT_BACKEND
    if not isinstance(spec, str):
        raise ConfigError(f"backend must be a name or a Backend, not {type(spec).__name__}")
    factory = load_backend(spec)
    _check_options(spec, factory, options)
    backend = factory(**options)
    if not isinstance(backend, Backend):
        raise ConfigError(f"backend {spec!r} did not produce a Backend")
    return backend


def _check_options(name: str, factory: BackendFactory, options: dict[str, Any]) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    try:
        signature.bind(**options)
    except TypeError as exc:
        raise ConfigError(f"backend {name!r} does not accept these options: {exc}") from None
