"""Who may talk to the emulator, and what the control plane may change.

- **Host and Origin** (every request): a browser page on another site must not
  reach the emulator, neither by DNS rebinding (its own name resolving to
  127.0.0.1, so ``Host`` is that name) nor by a cross-site form post (``Origin`` is
  that site). Accepted names: loopback (``localhost``, ``127.0.0.1``, ``::1``), the
  bound host, ``allowed_hosts`` (``"*"`` accepts any), and any IP literal when bound
  to every interface. Others get a 403.
- **The control key** (``/_emulator/...``): ``control_key`` when set, else any of
  ``api_keys``; with neither the control plane is open (tests on loopback).
- **Config patches over HTTP** (:func:`check_patch`): start-up settings
  (:data:`STARTUP_ONLY`) never change; naming a callable to import or a server to
  forward to needs ``allow_plugins``, and what is named must load (400 otherwise).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any

from yarl import URL

from batchport_emulator.azure.auth import make_validator
from batchport_emulator.config import EmulatorConfig
from batchport_emulator.errors import ApiError
from batchport_emulator.responders import ForwardResponder, ResponderError, import_callable

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_ANY_INTERFACE = frozenset({"", "0.0.0.0", "::"})
#: settings only the command line or a config file may set
STARTUP_ONLY = (
    "control_key",
    "allow_plugins",
    "allowed_hosts",
    "host",
    "port",
    "data_dir",
    "read_timeout_s",
)
#: webhook settings only the command line or a config file may set: the secret, and
#: which non-loopback hosts the emulator may send to
WEBHOOK_STARTUP_ONLY = ("secret", "allowed_hosts")
#: kept through a ``profile`` patch (which otherwise starts from the profile's defaults)
_KEPT_BY_PROFILE = (*STARTUP_ONLY, "api_keys")
_KEY_HEADERS = ("api-key", "x-api-key", "x-goog-api-key")
_SAFE_VALIDATORS = frozenset({"auto", "any", "jwt"})


def _host_name(value: str) -> str | None:
    try:
        host = URL(f"//{value.strip()}").host
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def name_allowed(name: str | None, config: EmulatorConfig) -> bool:
    """Whether a Host/Origin host name may reach this emulator."""
    if name is None:
        return False
    extra = {h.lower() for h in config.allowed_hosts}
    bound = config.host.strip("[]").lower()
    if "*" in extra or name in LOOPBACK_NAMES or name == bound or name in extra:
        return True
    return bound in _ANY_INTERFACE and _is_ip(name)


def check_origin(headers: Mapping[str, str], config: EmulatorConfig) -> None:
    """Raise a 403 :class:`ApiError` unless ``Host`` (and ``Origin``, if sent) are allowed.

    A request without ``Host`` (HTTP/1.0 tools) passes: browsers always send it.
    """
    host = headers.get("Host")
    if host is not None and not name_allowed(_host_name(host), config):
        raise _forbidden("Host", host)
    origin = headers.get("Origin")
    if origin is not None:
        scheme, sep, rest = origin.strip().partition("://")
        name = _host_name(rest) if sep and scheme.isascii() else None  # "null" has none
        if not name_allowed(name, config):
            raise _forbidden("Origin", origin)


def _forbidden(header: str, value: str) -> ApiError:
    shown = value[:100].encode("ascii", "backslashreplace").decode()
    return ApiError(
        403,
        f"{header} {shown!r} is not allowed: the emulator answers loopback names and its "
        "bound host only (start it with --allowed-host NAME to add one).",
        type="permission_denied",
        code="host_not_allowed",
    )


def _presented_key(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return next((headers[h].strip() for h in _KEY_HEADERS if headers.get(h, "").strip()), None)


def check_control_key(headers: Mapping[str, str], config: EmulatorConfig) -> None:
    """Raise a 401 :class:`ApiError` unless the request carries the control key.

    The key is ``control_key`` if set, else any of ``api_keys``; with neither, anyone
    on an allowed host may use the control plane. It may come as a bearer token or
    in ``api-key`` / ``x-api-key`` / ``x-goog-api-key``.
    """
    keys = [config.control_key] if config.control_key is not None else config.api_keys
    if not keys:
        return
    given = _presented_key(headers)
    if given is not None and any(
        hmac.compare_digest(given.encode(), k.get_secret_value().encode()) for k in keys
    ):
        return
    which = "--control-key" if config.control_key is not None else "--api-key"
    raise ApiError(
        401,
        f"The /_emulator control endpoints need the emulator's key ({which}) as a "
        "bearer token or in an api-key header.",
        code="invalid_api_key",
    )


def check_patch(config: EmulatorConfig, patch: Mapping[str, Any]) -> dict[str, Any]:
    """The patch to apply for ``PATCH /_emulator/config``, checked against the rules.

    Raises :class:`ApiError` 400 when it changes a start-up setting, names a callable
    or forward target without ``allow_plugins``, names one that does not load, or
    sets an out-of-range clock; raises pydantic's ``ValidationError`` when invalid.
    """
    out = dict(patch)
    if "profile" in out:
        for name in _KEPT_BY_PROFILE:
            out.setdefault(name, getattr(config, name))
        out.setdefault("webhooks", config.webhooks.model_dump())
    new = config.merged(out)
    changed = [n for n in STARTUP_ONLY if getattr(new, n) != getattr(config, n)]
    changed += [
        f"webhooks.{n}"
        for n in WEBHOOK_STARTUP_ONLY
        if getattr(new.webhooks, n) != getattr(config.webhooks, n)
    ]
    if changed:
        raise ApiError(
            400,
            f"{', '.join(changed)} can only be set when the emulator starts "
            "(command line or config file), not over HTTP.",
            param=changed[0],
            code="startup_only_setting",
        )
    check_clock_scale(new.clock.scale, "clock.scale")
    plugins = _plugin_settings(config, new)
    if plugins and not config.allow_plugins:
        raise ApiError(
            400,
            f"{', '.join(plugins)}: naming code to import or a server to forward to over "
            "HTTP is off; start the emulator with --allow-plugins to allow it.",
            param=plugins[0],
            code="plugins_not_allowed",
        )
    if plugins:
        _check_loads(new)
    return out


def _plugin_settings(old: EmulatorConfig, new: EmulatorConfig) -> list[str]:
    """The settings ``new`` changes that import code or send requests elsewhere."""
    o, n = old.responder, new.responder
    found = [
        f"responder.{name}"
        for name in ("callable", "forward_url", "forward_api_key")
        if getattr(n, name) is not None and getattr(n, name) != getattr(o, name)
    ]
    if n.kind != o.kind and n.kind != "fake":
        found.insert(0, "responder.kind")
    v = new.azure.bearer_validator
    if v != old.azure.bearer_validator and v not in _SAFE_VALIDATORS:
        found.append("azure.bearer_validator")
    return found


def _check_loads(config: EmulatorConfig) -> None:
    r = config.responder
    try:
        if r.kind == "callable" and r.callable is not None:
            import_callable(r.callable)
        elif r.kind == "forward":
            ForwardResponder.from_config(r)
        if config.azure.bearer_validator not in _SAFE_VALIDATORS:
            make_validator(config.azure.bearer_validator, config.azure.jwt_audiences)
    except ResponderError as exc:
        raise ApiError(400, str(exc)[:500], code="invalid_plugin") from None
    except Exception as exc:  # importing user code can raise anything
        raise ApiError(
            400,
            f"azure.bearer_validator {config.azure.bearer_validator!r} cannot be loaded "
            f"({type(exc).__name__})",
            param="azure.bearer_validator",
            code="invalid_plugin",
        ) from None


#: the virtual clock stays within datetime's range with room for expiry arithmetic
MAX_CLOCK_S = 32_503_680_000.0  # 3000-01-01
MAX_CLOCK_SCALE = 1_000_000.0


def check_clock_time(timestamp: float, param: str) -> None:
    if not timestamp <= MAX_CLOCK_S:
        raise ApiError(
            400,
            f"'{param}' would move the clock past {MAX_CLOCK_S:.0f} (the year 3000).",
            param=param,
        )


def check_clock_scale(scale: float, param: str) -> None:
    if not scale <= MAX_CLOCK_SCALE:
        raise ApiError(400, f"'{param}' must be at most {MAX_CLOCK_SCALE:.0f}.", param=param)


__all__ = [
    "LOOPBACK_NAMES",
    "MAX_CLOCK_S",
    "STARTUP_ONLY",
    "check_clock_scale",
    "check_clock_time",
    "check_control_key",
    "check_origin",
    "check_patch",
    "name_allowed",
]
