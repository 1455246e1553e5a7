"""OpenAI error envelopes for endpoint answers, and request-body checks.

Every error body is ``{"error": {"message", "type", "param", "code"}}`` with
the type/code the real API uses for that status. ``check_body`` reproduces
the 400s the real endpoints send for missing or mistyped core parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ApiError, invalid_type, json_type_name, missing_parameter
from ..errors import error_envelope as error_body
from ..ratelimit import Decision, rate_limit_error_body
from .base import RespondResult
from .tokens import estimate_tokens

__all__ = [
    "MAX_EMBEDDING_INPUT_TOKENS",
    "MAX_EMBEDDING_REQUEST_TOKENS",
    "MAX_N",
    "check_body",
    "error_body",
    "error_result",
    "status_error",
]

_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
# status -> (type, code, message); "{model}" is filled in.
_STATUS_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "The request could not be processed as sent."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: (
        "invalid_request_error",
        None,
        "You have insufficient permissions for this operation.",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    408: ("invalid_request_error", None, "Request timed out."),
    409: (
        "invalid_request_error",
        None,
        "The request conflicted with another request. Please try again.",
    ),
    422: (
        "invalid_request_error",
        None,
        "The request was well-formed but could not be processed.",
    ),
    500: ("server_error", None, _SERVER_ERROR),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}


def error_result(
    status_code: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> RespondResult:
    """A ``RespondResult`` carrying an error envelope (no tokens billed)."""
    return RespondResult(status_code, error_body(message, type=type, param=param, code=code))


def status_error(status_code: int, model: str = "unknown") -> RespondResult:
    """A realistic error answer for any 4xx/5xx ``status_code``.

    429 is a requests-per-minute ``rate_limit_exceeded``; unknown 4xx get
    ``invalid_request_error`` and unknown 5xx ``server_error``.
    """
    if status_code == 429:
        decision = Decision(False, 0.12, {}, kind="requests", limit=500, remaining=0, requested=1)
        return RespondResult(429, rate_limit_error_body(decision, model=model))
    known = _STATUS_ERRORS.get(status_code)
    if known is None:
        if status_code >= 500:
            known = ("server_error", None, _SERVER_ERROR)
        else:
            known = ("invalid_request_error", None, f"Request failed with status {status_code}.")
    type_, code, message = known
    return error_result(status_code, message.replace("{model}", model), type=type_, code=code)


def _from_error(error: ApiError) -> RespondResult:
    """The answer carrying ``error``'s envelope and status (no tokens billed)."""
    return RespondResult(error.status, error.envelope())


def _missing(param: str) -> RespondResult:
    return _from_error(missing_parameter(param))


def _json_type(value: object) -> str:
    # The endpoints say "a number" for any JSON number, where the Batch API's own
    # parameter checks tell integers and decimals apart.
    name = json_type_name(value)
    return "a number" if name in ("an integer", "a decimal") else name


def _invalid_type(param: str, expected: str, value: Any) -> RespondResult:
    return _from_error(invalid_type(param, expected, value, type_name=_json_type))


# endpoints whose ``model`` may be left out (the API picks its default model)
_MODEL_DEFAULTED = frozenset({"/moderations", "/images/generations", "/images/edits", "/videos"})


def check_body(path: str, body: Mapping[str, Any]) -> RespondResult | None:
    """The 400 the real endpoint sends for ``body``, or ``None`` if it passes.

    ``path`` is the endpoint path without ``/v1``. Only the core parameters
    are checked (model, messages/input, structured-output settings,
    embedding options); anything else is accepted as the real API would.
    """
    model = body.get("model")
    if path in _MODEL_DEFAULTED:
        if model is not None and not isinstance(model, str):
            return _invalid_type("model", "a string", model)
    else:
        if model is None:
            if path == "/responses":
                return _missing("model")
            return error_result(400, "you must provide a model parameter")
        if not isinstance(model, str):
            return _invalid_type("model", "a string", model)
    if body.get("stream") is True:
        return error_result(
            400,
            "stream=true is not supported by the emulator; send stream=false.",
            param="stream",
            code="invalid_value",
        )
    if path in ("/chat/completions", "/completions"):
        bad = _check_n(body.get("n"))
        if bad is not None:
            return bad
    if path == "/chat/completions":
        return _check_chat(body)
    if path == "/responses":
        return _check_responses(body)
    if path == "/embeddings":
        return _check_embeddings(body)
    if path == "/moderations" and "input" not in body:
        return _missing("input")
    return None


#: the real API's largest ``n`` (choices per chat or completions request)
MAX_N = 128


def _check_n(n: object) -> RespondResult | None:
    """The real 400 for an ``n`` that is not an integer in 1..128 (null is the default)."""
    if n is None:
        return None
    if not isinstance(n, int) or isinstance(n, bool):
        return _invalid_type("n", "an integer", n)
    if n > MAX_N:
        return error_result(
            400,
            f"Invalid 'n': integer above maximum value. Expected a value <= {MAX_N}, "
            f"but got {n} instead.",
            param="n",
            code="integer_above_max_value",
        )
    if n < 1:
        return error_result(
            400,
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, "
            f"but got {n} instead.",
            param="n",
            code="integer_below_min_value",
        )
    return None


def _check_chat(body: Mapping[str, Any]) -> RespondResult | None:
    messages = body.get("messages")
    if messages is None:
        return _missing("messages")
    if not isinstance(messages, list):
        return _invalid_type("messages", "an array", messages)
    if not messages:
        return error_result(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            return _invalid_type(f"messages[{index}]", "an object", message)
        if "role" not in message:
            return _missing(f"messages[{index}].role")
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, Mapping):
            return _missing("response_format.json_schema")
        if "name" not in spec:
            return _missing("response_format.json_schema.name")
    return None


def _check_responses(body: Mapping[str, Any]) -> RespondResult | None:
    if "input" not in body and not any(
        key in body for key in ("previous_response_id", "prompt", "conversation")
    ):
        return _missing("input")
    value = body.get("input")
    if value is not None and not isinstance(value, (str, list)):
        return _invalid_type("input", "a string or an array", value)
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, Mapping) else None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        for key in ("name", "schema"):
            if key not in fmt:
                return _missing(f"text.format.{key}")
    return None


def _check_embeddings(body: Mapping[str, Any]) -> RespondResult | None:
    if "input" not in body:
        return _missing("input")
    value = body["input"]
    if value == "" or value == [] or not isinstance(value, (str, list)):
        return error_result(
            400,
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
        )
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        return error_result(
            400,
            f"Invalid value: '{fmt}'. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    one_token_list = isinstance(value, list) and all(isinstance(v, int) for v in value)
    if isinstance(value, list) and len(value) > MAX_EMBEDDING_INPUTS and not one_token_list:
        return error_result(
            400,
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
        )
    model = str(body.get("model"))
    return _check_dimensions(model, body.get("dimensions")) or _check_input_tokens(model, value)


#: the real models' embedding sizes; ``dimensions`` may shorten, never lengthen
EMBEDDING_SIZES = {"text-embedding-3-large": 3072, "text-embedding-3-small": 1536}
UNKNOWN_EMBEDDING_SIZE = 4096
#: inputs per embeddings request (the API reference: "2048 dimensions or less")
MAX_EMBEDDING_INPUTS = 2048


#: tokens one embedding input may hold (text-embedding-ada-002: 8191)
MAX_EMBEDDING_INPUT_TOKENS = 8192
#: tokens across all inputs of one embeddings request
MAX_EMBEDDING_REQUEST_TOKENS = 300_000


def _check_input_tokens(model: str, value: object) -> RespondResult | None:
    """The real 400s for an input longer than the model's context, or a request
    whose inputs hold more than 300,000 tokens in all."""
    limit = MAX_EMBEDDING_INPUT_TOKENS - 1 if "ada-002" in model else MAX_EMBEDDING_INPUT_TOKENS
    items: list[Any] = list(value) if isinstance(value, list) else [value]
    if items and all(isinstance(v, int) for v in items):
        items = [items]  # one pre-tokenized input
    total = 0
    for item in items:
        if isinstance(item, str):
            count = estimate_tokens(item)
        elif isinstance(item, list):
            count = len(item)
        else:
            continue
        if count > limit:
            return error_result(
                400,
                f"This model's maximum context length is {limit} tokens, however you "
                f"requested {count} tokens ({count} in your prompt; 0 for the completion). "
                "Please reduce your prompt; or completion length.",
            )
        total += count
    if total > MAX_EMBEDDING_REQUEST_TOKENS:
        return error_result(
            400,
            f"Requested {total} tokens, max {MAX_EMBEDDING_REQUEST_TOKENS} tokens per request",
            type="max_tokens_per_request",
            code="max_tokens_per_request",
        )
    return None


def embedding_size(model: str) -> int:
    """The largest ``dimensions`` the fake gives ``model`` (Azure deployments may
    carry the model name inside a longer one)."""
    return next(
        (size for name, size in EMBEDDING_SIZES.items() if name in model), UNKNOWN_EMBEDDING_SIZE
    )


def _check_dimensions(model: str, dims: object) -> RespondResult | None:
    if dims is None:
        return None
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
        return error_result(
            400,
            f"Invalid value for 'dimensions': expected an integer of at least 1, got {dims!r}.",
            param="dimensions",
            code="invalid_value",
        )
    if "ada-002" in model:
        return error_result(400, "This model does not support specifying dimensions.")
    limit = embedding_size(model)
    if dims > limit:
        return error_result(
            400,
            f"Invalid value for 'dimensions': {dims} is larger than the model's embedding "
            f"size ({limit}).",
            param="dimensions",
            code="invalid_value",
        )
    return None
