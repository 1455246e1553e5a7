"""The one exception tree of batchport.

::

    BatchportError
    ├── InputError              a user's request, file or argument is wrong (file, line, rule)
    │   └── ValidationFailed    a batch file broke one or more provider rules (.problems)
    ├── ConfigError             a setting is missing or wrong: unknown backend, missing extra
    ├── BackendError            the provider (or the way to it) said no
    │   ├── AuthenticationError     401/403
    │   ├── NotFoundError           404: unknown file or batch id
    │   ├── ConflictError           409: e.g. cancelling a finished batch
    │   ├── BadRequestError         400/422 that is not one of the below
    │   ├── RateLimitError          429 (retryable, may carry retry_after)
    │   ├── QuotaExceededError      enqueued-token quota (token_limit_exceeded; retryable)
    │   ├── ServerError             5xx (retryable)
    │   ├── TransportError          connection dropped, timeout (retryable)
    │   └── ResultLineError         a result line that cannot be read (source, line, rule)
    └── RunError                a run cannot go on: cost cap, changed input on resume, ...
        └── DamagedBlobError    a stored result file cannot be read back (cut short, altered)

Provider SDK exceptions are translated into this tree in one place per backend and
chained with ``raise ... from exc``. No message or repr here ever includes a secret:
errors carry the provider's error body, never request headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BadRequestError",
    "BatchportError",
    "ConfigError",
    "ConflictError",
    "DamagedBlobError",
    "InputError",
    "NotFoundError",
    "QuotaExceededError",
    "RateLimitError",
    "ResultLineError",
    "RunError",
    "ServerError",
    "TransportError",
    "ValidationFailed",
]


def _located(message: str, where: str | None, line: int | None, rule: str | None) -> str:
    """``where:line: rule: message``, leaving out what is not known."""
    prefix = "" if where is None else (f"{where}:{line}: " if line is not None else f"{where}: ")
    return f"{prefix}{rule + ': ' if rule else ''}{message}"


class BatchportError(Exception):
    """Root of every error batchport raises on purpose."""


class InputError(BatchportError, ValueError):
    """Bad user input. ``path``/``line``/``rule`` say where and which rule, when known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        rule: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.rule = rule
        super().__init__(_located(message, path, line, rule))


class ValidationFailed(InputError):
    """A batch file failed validation; ``problems`` lists every problem found."""

    def __init__(self, path: str, problems: list[Any]) -> None:
        self.problems = problems
        first = problems[0] if problems else None
        summary = f"{len(problems)} problem(s); first: {first}" if first else "invalid"
        super().__init__(summary, path=path)


class ConfigError(BatchportError):
    """A setting is missing or wrong (unknown backend name, missing optional extra...)."""


class RunError(BatchportError):
    """A run cannot proceed (cost cap exceeded, input changed since the run began...)."""


class DamagedBlobError(RunError):
    """A result blob in the run store cannot be read back: cut short, or changed after
    it was written. The message names the blob and, when reading results, the row."""


class BackendError(BatchportError):
    """The provider or the transport to it refused or failed a call.

    ``retryable`` tells the runner whether the same call may succeed later, and
    ``retry_after`` (seconds) how long the provider asked to wait, when it said.
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.payload = dict(payload) if payload is not None else None
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        super().__init__(message)

    def __str__(self) -> str:
        parts = [p for p in (self.provider, str(self.status_code or ""), self.code or "") if p]
        prefix = f"[{' '.join(parts)}] " if parts else ""
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{prefix}{self.message}{rid}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, status_code={self.status_code!r}, "
            f"code={self.code!r}, message={self.message!r}, retryable={self.retryable!r})"
        )


class AuthenticationError(BackendError):
    """401/403: the credentials were refused."""


class NotFoundError(BackendError):
    """404: the file or batch id does not exist (or is not visible to these credentials)."""


class ConflictError(BackendError):
    """409: the object is in a state that does not allow the call."""


class BadRequestError(BackendError):
    """400/422: the provider rejected the call's parameters."""


class RateLimitError(BackendError):
    """429: too many calls; wait ``retry_after`` seconds if given."""

    default_retryable = True


class QuotaExceededError(BackendError):
    """The enqueued-token quota is full (``token_limit_exceeded``); retry once batches finish."""

    default_retryable = True


class ServerError(BackendError):
    """5xx from the provider."""

    default_retryable = True


class TransportError(BackendError):
    """The connection dropped or timed out before a response arrived.

    ``connect_failed`` is True when no connection was made at all (refused, unknown
    host): the runner gives such an endpoint only a couple of quick retries.
    """

    default_retryable = True

    def __init__(self, message: str, *, connect_failed: bool = False, **kwargs: Any) -> None:
        self.connect_failed = connect_failed
        super().__init__(message, **kwargs)


class ResultLineError(BackendError):
    """A result the provider sent cannot be read: not JSON, not the provider's shape,
    an unknown or repeated ``custom_id``, more results than requests.

    ``source`` names where it came from (a file id, a URL), ``line`` is 1-based and
    ``rule`` names what is wrong (``result_invalid_json``...). Retryable by default: a
    download cut short reads so, and fetching again may cure it.
    """

    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        rule: str | None = None,
        provider: str = "",
        retryable: bool | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.rule = rule
        super().__init__(
            _located(message, source or None, line, rule),
            provider=provider,
            code=rule,
            retryable=retryable,
        )

    def __str__(self) -> str:  # the message already names the source, line and rule
        return f"[{self.provider}] {self.message}" if self.provider else self.message
