"""Domain errors of the emulator, rendered by the HTTP layer as a dialect's error body.

Every refusal the emulator makes on purpose is an :class:`ApiError`: an HTTP
status plus the four fields of OpenAI's envelope
``{"error": {"message", "type", "param", "code"}}`` and optional extra headers.
State code raises them; the HTTP middleware turns them into responses. Nothing
here imports aiohttp.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def error_envelope(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope; all four keys are always present."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class ApiError(Exception):
    """A refusal with an HTTP status and an OpenAI-style error body.

    ``headers`` are added to the response (for example ``x-should-retry`` or
    ``retry-after-ms``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers: dict[str, str] = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        """The OpenAI error envelope for this error."""
        return error_envelope(self.message, type=self.type, param=self.param, code=self.code)

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.message!r}, code={self.code!r})"


def missing_parameter(name: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{name}'.",
        param=name,
        code="missing_required_parameter",
    )


def invalid_value(param: str, value: object, supported: Sequence[str] | None = None) -> ApiError:
    message = f"Invalid value: '{value}'."
    if supported:
        message += " Supported values are: " + ", ".join(f"'{s}'" for s in supported) + "."
    return ApiError(400, message, param=param, code="invalid_value")


def invalid_type(
    param: str,
    expected: str,
    got: object,
    *,
    type_name: Callable[[object], str] | None = None,
) -> ApiError:
    """400 ``invalid_type``; ``type_name`` names ``got``'s JSON type (default
    :func:`json_type_name`)."""
    got_name = (type_name or json_type_name)(got)
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {got_name} instead.",
        param=param,
        code="invalid_type",
    )


def json_type_name(value: object) -> str:
    """How OpenAI's validator names a JSON value's type ("an array", "a string"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def file_not_found(file_id: str) -> ApiError:
    return ApiError(404, f"No such File object: {file_id}", param="id")


def batch_not_found(batch_id: str) -> ApiError:
    return ApiError(404, f"No batch found with id '{batch_id}'.")


def cancel_conflict(status: str) -> ApiError:
    # The SDK retries 409 twice unless told otherwise; a terminal batch never
    # becomes cancellable, so retrying is pure waste.
    return ApiError(
        409,
        f"Cannot cancel a batch with status '{status}'.",
        headers={"x-should-retry": "false"},
    )


def bad_json_body() -> ApiError:
    return ApiError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you "
        "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
        "but what was sent was not valid JSON.)",
    )


# Realistic error bodies for rows and calls that fail on purpose, by HTTP status.
_STATUS_BODIES: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Invalid request: the emulator rejected this request.", None),
    401: ("invalid_request_error", "Incorrect API key provided.", "invalid_api_key"),
    404: (
        "invalid_request_error",
        "The model does not exist or you do not have access to it.",
        "model_not_found",
    ),
    429: (
        "requests",
        "Rate limit reached for requests. Please try again later.",
        "rate_limit_exceeded",
    ),
    500: (
        "server_error",
        "The server had an error while processing your request. Sorry about that!",
        None,
    ),
    503: ("server_error", "The engine is currently overloaded, please try again later.", None),
}


def error_for_status(status: int) -> ApiError:
    """A realistic :class:`ApiError` for an HTTP status chosen by a fault policy."""
    kind, message, code = _STATUS_BODIES.get(
        status,
        (
            "server_error" if status >= 500 else "invalid_request_error",
            f"Request failed with status {status}.",
            None,
        ),
    )
    return ApiError(status, message, type=kind, code=code)


def request_timeout() -> ApiError:
    """408: the request's body did not arrive within the read timeout."""
    return ApiError(
        408,
        "The request body was not received in time; the connection was closed.",
        code="request_timeout",
    )
