"""Responders: turn one endpoint request into the exact response body.

``make_responder(config)`` builds the one the configuration asks for:
``FakeResponder`` (deterministic, schema-valid fake bodies; the default),
``CallableResponder`` (a user function) or ``ForwardResponder`` (an
OpenAI-compatible server).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import Responder, ResponderConfig, ResponderError, RespondRequest, RespondResult
from .callable import CallableResponder, ResponderFn, import_callable
from .errors import error_body, error_result, status_error
from .fake import FakeResponder, endpoint_path
from .forward import ForwardResponder
from .tokens import estimate_tokens, usage_tokens

__all__ = [
    "CallableResponder",
    "FakeResponder",
    "ForwardResponder",
    "RespondRequest",
    "RespondResult",
    "Responder",
    "ResponderConfig",
    "ResponderError",
    "ResponderFn",
    "endpoint_path",
    "error_body",
    "error_result",
    "estimate_tokens",
    "import_callable",
    "make_responder",
    "status_error",
    "usage_tokens",
]


def make_responder(
    config: ResponderConfig | None = None,
    *,
    fn: ResponderFn | None = None,
    clock: Callable[[], float] = time.time,
) -> Responder:
    """The responder ``config`` describes.

    ``fn``, when given, is used as the callable whatever ``config.kind`` says
    (a function passed in code beats a setting). ``clock`` (seconds) stamps
    fake bodies' ``created`` times. Raises ``ResponderError`` when the
    configuration is incomplete (``callable`` kind without a path, ``forward``
    without a URL) or the dotted path cannot be imported.
    """
    config = config if config is not None else ResponderConfig()
    if fn is not None:
        return CallableResponder(fn)
    if config.kind == "callable":
        if config.callable is None:
            raise ResponderError(
                "responder.kind is 'callable' but responder.callable is not set "
                "(expected 'package.module:function')"
            )
        return CallableResponder(import_callable(config.callable))
    if config.kind == "forward":
        return ForwardResponder.from_config(config)
    return FakeResponder(config, clock=clock)
