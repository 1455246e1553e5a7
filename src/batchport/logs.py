"""Keeping secrets out of logs.

:class:`RedactingFilter` rewrites every record a handler emits — the message, its
arguments and any formatted traceback — so that API keys, bearer tokens, secrets held
in the environment, passwords inside URLs (``https://user:pass@host``) and secret
query parameters (``?api-key=...``) read ``***``. The command line installs it on its
handlers; a program that logs batchport's (and the HTTP libraries') records can do the
same with :func:`redact_logs`. :func:`redact_url` is the one form of a URL that goes
into a message, a repr or a file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from urllib.parse import unquote_plus

__all__ = ["RedactingFilter", "redact", "redact_logs", "redact_text", "redact_url", "url_password"]

# Key-like tokens: OpenAI keys (sk-..., sk-proj-...) and bearer tokens in free text.
_KEY_PATTERNS = re.compile(r"\bsk-[A-Za-z0-9_\-*]{4,}|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}")
_MASK = "***"
# A URL in free text, from its "://" to the next blank or double quote: a password may
# hold '/', '?', '#', '@' or ':' unescaped, so the whole run is read as one URL.
_URL_IN_TEXT = re.compile(r"(?<=://)[^\s\"<>`]+")
# characters that end a URL's authority: a user:password holding one was not escaped
_RESERVED = frozenset("/?#@")
# query (or fragment) parameters whose value is a credential, by name, any case
_SECRET_PARAM = re.compile(
    r"key|token|secret|passw|pwd|credential|signature|authoriz|^(?:code|sig|sas|auth|jwt)$",
    re.IGNORECASE,
)
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)


def _env_secrets() -> list[str]:
    found = []
    for name, value in os.environ.items():
        value = value.strip()
        if _SECRET_ENV.search(name) and len(value) >= 8:
            found.append(value)
    return found


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Replace every known secret and anything that looks like an API key by ``***``.

    Imports nothing beyond the standard library, so the command line can mask its
    messages without loading any provider SDK.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, _MASK)
    text = _KEY_PATTERNS.sub(_MASK, text)
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: _redact_after_scheme(m.group(), drop=False), text)
    return text


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets, key-like strings, the secrets held in the
    environment and URL passwords and credential parameters masked."""
    return redact(text, [*secrets, *_env_secrets()])


def redact_url(url: str, *, drop: bool = False) -> str:
    """``url`` without its secrets: the password of its ``user:password@`` part reads
    ``***`` (the whole part when it holds an unescaped '/', '?', '#' or '@': everything
    from ``://`` to the last '@' is then masked), and so does the value of every query
    or fragment parameter named like a credential (``api-key``, ``key``, ``token``,
    ``sig``, ``password``, ...). ``drop=True`` leaves those parameters out instead,
    for a URL that is stored: nothing of their values is kept."""
    head, sep, rest = url.partition("://")
    if not sep:
        return _redact_params(url, drop=drop)
    return head + sep + _redact_after_scheme(rest, drop=drop)


def url_password(url: str) -> str | None:
    """The password of ``url`` as written, read the way :func:`redact_url` masks it:
    everything between the first ':' after ``://`` and the last '@'; None without one."""
    info = _userinfo(url.partition("://")[2])
    return None if info is None else info.partition(":")[2]


def _userinfo(rest: str) -> str | None:
    """The ``user:password`` before the last '@' of ``rest`` (a URL after its
    ``://``), or None when there is no '@' or no ':' before it (no password)."""
    at = rest.rfind("@")
    if at < 0 or ":" not in rest[:at]:
        return None
    return rest[:at]


def _redact_after_scheme(rest: str, *, drop: bool) -> str:
    info = _userinfo(rest)
    if info is not None:
        user = info.partition(":")[0]
        shown = f"{user}:{_MASK}" if _RESERVED.isdisjoint(info) else _MASK
        rest = f"{shown}@{rest[len(info) + 1 :]}"
    return _redact_params(rest, drop=drop)


def _redact_params(text: str, *, drop: bool) -> str:
    """``text`` with the credential parameters of its query and fragment masked."""
    path, hash_, fragment = text.partition("#")
    path, mark, query = path.partition("?")
    kept, rest = _redact_items(query, drop=drop), _redact_items(fragment, drop=drop)
    # a '?' or '#' goes with the last of its parameters, and only then
    mark = mark if kept or not query else ""
    hash_ = hash_ if rest or not fragment else ""
    return path + mark + kept + hash_ + rest


def _redact_items(params: str, *, drop: bool) -> str:
    kept = []
    for item in params.split("&") if "=" in params else [params]:
        name, eq, _ = item.partition("=")
        if not eq or not _SECRET_PARAM.search(unquote_plus(name)):
            kept.append(item)
        elif not drop:
            kept.append(f"{name}={_MASK}")
    return "&".join(kept)


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in everything the record will print."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message, self._secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, self._secrets)
        return True


def redact_logs(logger: logging.Logger | None = None, secrets: Iterable[str] = ()) -> None:
    """Add a :class:`RedactingFilter` to every handler of ``logger`` (the root logger
    by default), so no record those handlers print shows a secret."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(secrets))
