"""A responder backed by a user function (sync or async)."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias, cast

from .base import ResponderError, RespondRequest, RespondResult
from .errors import error_result
from .fake import endpoint_path
from .prompt import prompt_of
from .tokens import estimate_tokens, output_text, usage_tokens

__all__ = ["CallableResponder", "ResponderFn", "import_callable"]

logger = logging.getLogger(__name__)

_Answer: TypeAlias = RespondResult | Mapping[str, Any]
ResponderFn: TypeAlias = Callable[[RespondRequest], _Answer | Awaitable[_Answer]]
"""Takes a request; returns a ``RespondResult`` or a 200 body dict, or an
awaitable of either."""


def import_callable(path: str) -> ResponderFn:
    """Import ``"package.module:function"`` (the attribute may be dotted).

    Raises ``ResponderError`` naming the path and what went wrong when the
    module cannot be imported, the attribute is missing, or it is not
    callable.
    """
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ResponderError(f"responder.callable {path!r}: expected 'package.module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import can raise anything; report it plainly
        raise ResponderError(
            f"responder.callable {path!r}: cannot import module {module_name!r} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ResponderError(
                f"responder.callable {path!r}: {module_name!r} has no attribute {attr!r}"
            ) from exc
    if not callable(target):
        raise ResponderError(f"responder.callable {path!r}: {attr!r} is not callable")
    fn: ResponderFn = target
    return fn


class CallableResponder:
    """Answers with ``fn(request)``.

    A returned dict becomes a 200 body; its token counts come from its
    ``usage`` when present, otherwise they are estimated from the request's
    prompt and the body's generated text. A ``RespondResult`` is passed
    through unchanged. If ``fn`` raises or returns anything else, the answer
    is a 500 ``server_error`` naming the problem (and it is logged), so one
    faulty row cannot stop a batch.
    """

    def __init__(self, fn: ResponderFn) -> None:
        if not callable(fn):
            raise ResponderError(f"CallableResponder needs a callable, got {type(fn).__name__}")
        self._fn = fn

    def __repr__(self) -> str:
        name = getattr(self._fn, "__qualname__", type(self._fn).__name__)
        return f"CallableResponder({name})"

    async def respond(self, request: RespondRequest) -> RespondResult:
        try:
            # object, not the declared return type: user code may return anything
            answer = cast(object, self._fn(request))
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception as exc:
            logger.exception("responder callable failed for %s", request.custom_id or request.url)
            return error_result(
                500,
                f"The responder callable raised {type(exc).__name__}: {exc}",
                type="server_error",
            )
        if isinstance(answer, RespondResult):
            return answer
        if isinstance(answer, Mapping):
            return _from_body(request, dict(answer))
        return error_result(
            500,
            f"The responder callable returned {type(answer).__name__}; "
            "expected a RespondResult or a response body dict.",
            type="server_error",
        )

    async def aclose(self) -> None:
        """Nothing to release; the function is the caller's."""


def _from_body(request: RespondRequest, body: dict[str, Any]) -> RespondResult:
    counts = usage_tokens(body)
    if counts is not None:
        return RespondResult(200, body, *counts)
    body_map: object = request.body
    prompt_tokens = 0
    if isinstance(body_map, Mapping):
        prompt_tokens = prompt_of(endpoint_path(request.url), body_map)[1]
    return RespondResult(
        200, body, input_tokens=prompt_tokens, output_tokens=estimate_tokens(output_text(body))
    )
