"""Keeping secrets out of logs.

:class:`RedactingFilter` rewrites every record a handler emits — the message, its
arguments and any formatted traceback — so that API keys, bearer tokens, secrets held
in the environment and passwords inside URLs (``https://user:pass@host``) read ``***``.
The command line installs it on its handlers; a program that logs batchport's (and
the HTTP libraries') records can do the same with :func:`redact_logs`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence

__all__ = ["RedactingFilter", "redact", "redact_logs", "redact_text"]

# Key-like tokens: OpenAI keys (sk-..., sk-proj-...) and bearer tokens in free text.
_KEY_PATTERNS = re.compile(r"\bsk-[A-Za-z0-9_\-*]{4,}|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}")
_MASK = "***"
_URL_PASSWORD = re.compile(r"(?<=://)([^/@:\s]+):([^/@\s]+)@")
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
    return _KEY_PATTERNS.sub(_MASK, text)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets, key-like strings and URL passwords masked."""
    text = redact(text, [*secrets, *_env_secrets()])
    return _URL_PASSWORD.sub(r"\1:***@", text)


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
