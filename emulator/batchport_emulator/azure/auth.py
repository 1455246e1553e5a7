"""Validators for Microsoft Entra ID bearer tokens sent to the Azure dialect.

A validator takes the token string and returns whether it is accepted. ``"jwt"``
checks the shape real Entra tokens have (three base64url parts, a JSON payload with
``aud`` and ``exp``) without verifying the signature: the emulator has no keys to
verify against, and what clients get wrong in practice is the scope (audience) and
refreshing expired tokens. ``"auto"`` (the default) is ``"jwt"`` when API keys are
configured and ``"any"`` otherwise: a locked-down emulator never lets an arbitrary
bearer string through.

:func:`principal` names whom a token stands for (its ``oid``/``sub`` claim), so files
and batches can be scoped to the credential that made them.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import orjson

TokenValidator = Callable[[str], bool]


def accept_any(token: str) -> bool:
    return bool(token)


def jwt_validator(
    audiences: Sequence[str], *, now: Callable[[], float] = time.time
) -> TokenValidator:
    """Accept unexpired JWTs whose ``aud`` is one of ``audiences`` (trailing '/' ignored)."""
    wanted = frozenset(a.rstrip("/") for a in audiences)

    def validate(token: str) -> bool:
        claims = jwt_claims(token)
        if claims is None:
            return False
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now():
            return False
        return any(isinstance(a, str) and a.rstrip("/") in wanted for a in auds)

    return validate


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, or None when ``token`` is not one."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


@lru_cache(maxsize=16)
def _import_callable(target: str) -> TokenValidator:
    module_name, _, attr = target.partition(":")
    fn = getattr(importlib.import_module(module_name), attr)
    if not callable(fn):
        raise ValueError(f"bearer validator {target!r} is not callable")
    return fn  # type: ignore[no-any-return]


def principal(token: str) -> str:
    """Whom a bearer token stands for: ``entra:<oid>`` (or ``sub``, ``appid``) from its
    claims, ``entra`` for a token that names nobody. Stable across token refreshes."""
    claims = jwt_claims(token) or {}
    for claim in ("oid", "sub", "appid"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return f"entra:{value[:128]}"
    return "entra"


def make_validator(
    spec: str, audiences: Sequence[str], *, keys_configured: bool = False
) -> TokenValidator:
    """The validator named by the config: ``"auto"``, ``"any"``, ``"jwt"`` or
    ``"module:callable"``; ``"auto"`` is ``"jwt"`` when ``keys_configured``, else ``"any"``.

    Raises ``ValueError`` (or ``ImportError``) for a callable that cannot be loaded.
    """
    if spec == "auto":
        spec = "jwt" if keys_configured else "any"
    if spec == "any":
        return accept_any
    if spec == "jwt":
        return jwt_validator(audiences)
    if ":" not in spec:
        raise ValueError(
            f"bearer validator must be 'auto', 'any', 'jwt' or 'module:callable', not {spec!r}"
        )
    return _import_callable(spec)
