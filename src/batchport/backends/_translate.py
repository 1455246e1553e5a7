"""The one place where ``openai`` SDK exceptions become :mod:`batchport.errors` types.

Status classes map as follows (the provider's error body is kept as ``payload``)::

    400, 422, other 4xx   -> BadRequestError   (token_limit_exceeded -> QuotaExceededError)
    401, 403              -> AuthenticationError
    404                   -> NotFoundError
    408                   -> TransportError
    409                   -> ConflictError
    429                   -> RateLimitError    (token_limit_exceeded -> QuotaExceededError)
    5xx                   -> ServerError
    connection / timeout  -> TransportError

Every message and payload passes through :func:`redact` first, so a key echoed by a
server ("Incorrect API key provided: sk-…") never reaches an error, log or file. The
SDK exception is chained as ``__cause__``; its message is redacted in place too.
"""

from __future__ import annotations

import datetime
import email.utils
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import openai
import orjson

from batchport.errors import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    ConfigError,
    ConflictError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    TransportError,
)
from batchport.logs import redact

__all__ = ["header_error", "parse_retry_after", "redact", "translate_error", "translating"]

_QUOTA_CODE = "token_limit_exceeded"
_MAX_TEXT = 2000


def _redact_obj(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {str(k): _redact_obj(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_obj(v, secrets) for v in value]
    return value


def parse_retry_after(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait as the server asked: ``retry-after-ms`` (milliseconds) first, then
    ``retry-after`` (seconds, or an HTTP date measured against ``now``). Negative,
    non-finite or unparsable values give None."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            seconds = float(value.strip()) / scale
        except ValueError:
            continue
        if seconds >= 0 and seconds != float("inf"):
            return seconds
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP dates are always UTC
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now())


def _is_quota(code: str | None, message: str, payload: Mapping[str, Any]) -> bool:
    # Azure's fail-fast 400 may carry the code in the message or a nested innererror.
    return (
        code == _QUOTA_CODE
        or _QUOTA_CODE in message
        or _QUOTA_CODE.encode() in orjson.dumps(payload, default=str)
    )


def _status_class(
    status: int, code: str | None, message: str, payload: Mapping[str, Any]
) -> type[BackendError]:
    if status in (400, 429) and _is_quota(code, message, payload):
        return QuotaExceededError
    by_status: dict[int, type[BackendError]] = {
        401: AuthenticationError,
        403: AuthenticationError,
        404: NotFoundError,
        408: TransportError,
        409: ConflictError,
        429: RateLimitError,
    }
    if status in by_status:
        return by_status[status]
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return BadRequestError
    return BackendError


def _payload(exc: openai.APIStatusError) -> dict[str, Any]:
    """The provider's full error body when it was JSON, else the SDK's view of it."""
    try:
        full = orjson.loads(exc.response.content)
    except (orjson.JSONDecodeError, RuntimeError, ValueError):
        full = None
    if isinstance(full, dict):
        return full
    if isinstance(exc.body, Mapping):
        return {"error": dict(exc.body)}
    if exc.body is None:
        return {}
    return {"text": str(exc.body)[:_MAX_TEXT]}


def _status_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, Mapping) else None
    if isinstance(message, str) and message:
        return message
    if isinstance(body, str) and body.strip():
        return body.strip()[:_MAX_TEXT]
    return f"HTTP {exc.status_code}"


def _request_id(exc: openai.APIStatusError) -> str | None:
    # Azure's gateway sends apim-request-id; OpenAI sends x-request-id.
    return exc.request_id or exc.response.headers.get("apim-request-id")


def translate_error(
    exc: openai.OpenAIError, *, provider: str, secrets: Sequence[str] = ()
) -> BackendError | ConfigError:
    """Build the batchport error for an SDK exception (the caller chains it ``from exc``)."""
    _scrub_sdk_exception(exc, secrets)
    if isinstance(exc, openai.APIStatusError):
        message = redact(_status_message(exc), secrets)
        payload = _redact_obj(_payload(exc), secrets)
        return _status_class(exc.status_code, exc.code, message, payload)(
            message,
            provider=provider,
            status_code=exc.status_code,
            code=exc.code,
            request_id=_request_id(exc),
            payload=payload,
            retry_after=parse_retry_after(exc.response.headers),
        )
    return sdk_error(exc, openai, provider=provider, secrets=secrets)


def sdk_error(
    exc: Exception, sdk: Any, *, provider: str, secrets: Sequence[str] = ()
) -> BackendError | ConfigError:
    """The batchport error for an exception of a Stainless-generated SDK (``openai``,
    ``anthropic``: the same exception classes) that carries no HTTP status: a timeout,
    a connection that failed or dropped, an answer of the wrong shape, anything else.
    A request that could not be sent for a wrong setting (a URL that is not http(s),
    a key HTTP cannot carry) is a :class:`ConfigError`: no retry would cure it."""
    if isinstance(exc, sdk.APITimeoutError):
        return TransportError("request timed out", provider=provider)
    if isinstance(exc, sdk.APIConnectionError):
        wrong = _unsendable(exc, provider, secrets)
        if wrong is not None:
            return wrong
        if _never_connected(exc):
            url = exc.request.url
            where = redact(str(url.copy_with(path="/", query=None)), secrets)
            return TransportError(
                f"cannot connect to {where} ({exc.__cause__ or exc.message})",
                provider=provider,
                connect_failed=True,
            )
        return TransportError(redact(exc.message, secrets), provider=provider)
    if isinstance(exc, sdk.APIResponseValidationError):
        return BackendError(
            f"unexpected response shape: {redact(exc.message, secrets)}",
            provider=provider,
            status_code=exc.status_code,
        )
    return BackendError(redact(str(exc), secrets), provider=provider)


def header_error(provider: str) -> ConfigError:
    """A request header (the API key, most likely) that HTTP cannot carry; the value
    itself is never repeated."""
    return ConfigError(
        f"{provider}: a request could not be sent: the API key (or another header) holds "
        "a character HTTP headers cannot carry (a newline or a space at its end, a "
        "non-ASCII letter); check the key's setting"
    )


def _unsendable(exc: BaseException, provider: str, secrets: Sequence[str]) -> ConfigError | None:
    """The setting that kept the request from being sent, if that is what ``exc`` says."""
    cause: BaseException | None = exc
    while cause is not None:
        name = type(cause).__name__
        if name in ("UnsupportedProtocol", "InvalidURL"):
            return ConfigError(
                f"{provider}: the provider's URL cannot be used ({redact(str(cause), secrets)}); "
                "check the base URL or endpoint setting"
            )
        if name == "LocalProtocolError" or isinstance(cause, UnicodeEncodeError):
            return header_error(provider)
        cause = cause.__cause__ or cause.__context__
    return None


def _never_connected(exc: BaseException) -> bool:
    """True when no connection was made at all (refused, no route, unknown host), as
    opposed to one that dropped: a dead endpoint, not a flaky one."""
    cause: BaseException | None = exc.__cause__
    while cause is not None:
        if type(cause).__name__ in ("ConnectError", "ConnectionRefusedError", "gaierror"):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _scrub_sdk_exception(exc: BaseException, secrets: Sequence[str]) -> None:
    """Redact the chained SDK exception's own text, which tracebacks print."""
    exc.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in exc.args)
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        exc.message = redact(message, secrets)  # type: ignore[attr-defined]
    body = getattr(exc, "body", None)  # a server that echoes a key or token keeps it here
    if body is not None:
        exc.body = _redact_obj(body, secrets)  # type: ignore[attr-defined]


@contextmanager
def translating(provider: str, secrets: Sequence[str] = ()) -> Iterator[None]:
    """Translate SDK exceptions raised inside the block; everything else passes through."""
    try:
        yield
    except openai.OpenAIError as exc:
        raise translate_error(exc, provider=provider, secrets=secrets) from exc
    except UnicodeEncodeError:  # a header (the key) HTTP cannot carry; its text holds it
        raise header_error(provider) from None
