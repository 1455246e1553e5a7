"""The default responder: deterministic fake bodies for every text endpoint.

Answers ``/v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings``,
``/v1/completions``, ``/v1/moderations``, ``/v1/images/generations``,
``/v1/images/edits`` and ``/v1/videos`` (also without ``/v1``, as Azure
paths come) with bodies the official SDK's own types accept, Anthropic's
``/v1/messages`` with ``Message`` bodies (:mod:`.fake_messages`) and Gemini's
``.../models/{model}:generateContent`` with ``GenerateContentResponse`` bodies
(:mod:`.fake_gemini`). The same
(seed, custom_id) - or (seed, body) for realtime calls - always gives the same
answer. ``model`` echoes the request's model; the real API answers with a
dated snapshot name (``gpt-4o-mini-2024-07-18``), which clients must not
depend on anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from .base import ResponderConfig, RespondRequest, RespondResult
from .errors import check_body, error_result, status_error
from .fake_chat import chat_completion, completion
from .fake_gemini import generate_content
from .fake_media import image_edit, image_generation, video
from .fake_messages import messages_response
from .fake_responses import response
from .fake_vectors import embeddings, moderation
from .prompt import find_markers, prompt_of
from .rows import Row

__all__ = ["FakeResponder", "endpoint_path"]

_Handler = Callable[[Row, Mapping[str, Any], bool], RespondResult]
_HANDLERS: dict[str, _Handler] = {
    "/chat/completions": chat_completion,
    "/responses": response,
    "/embeddings": embeddings,
    "/completions": completion,
    "/moderations": moderation,
    "/images/generations": image_generation,
    "/images/edits": image_edit,
    "/videos": video,
}


#: embedding floats above which the body is built off the event loop
_HEAVY_FLOATS = 65_536
#: choices (``n``, or completions prompts) above which the body is built off the loop
_HEAVY_CHOICES = 8


def _heavy(body: object) -> bool:
    """Whether answering ``body`` may take more than a few milliseconds."""
    if not isinstance(body, Mapping):
        return False
    fmt = body.get("response_format")
    text = body.get("text")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        return True
    if body.get("tools"):  # tool-call arguments are schema instances too
        return True
    n = body.get("n")
    if isinstance(n, int) and n > _HEAVY_CHOICES:  # many choices share one budget
        return True
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) > _HEAVY_CHOICES:
        return True
    spec = text.get("format") if isinstance(text, Mapping) else None
    generation = body.get("generationConfig") or body.get("generation_config")
    if isinstance(generation, Mapping) and any("chema" in key for key in generation):
        return True
    output = body.get("output_config")
    if isinstance(output, Mapping) and isinstance(output.get("format"), Mapping):
        return True
    if isinstance(spec, Mapping) and spec.get("type") == "json_schema":
        return True
    value, dims = body.get("input"), body.get("dimensions")
    inputs = len(value) if isinstance(value, list) else 1
    size = dims if isinstance(dims, int) and dims > 0 else 3072
    return inputs * size > _HEAVY_FLOATS


def endpoint_path(url: str) -> str:
    """The endpoint path without version or deployment prefix and query:
    ``/v1/chat/completions``, ``/chat/completions``,
    ``/openai/v1/chat/completions`` and
    ``/openai/deployments/D/chat/completions?api-version=...`` all give
    ``/chat/completions``."""
    path = url.split("?", 1)[0]
    if path.startswith("/v1/"):
        return path[3:]
    if path.startswith("/openai/"):
        path = path[7:]
        if path.startswith("/v1/"):
            return path[3:]
        if path.startswith("/deployments/"):
            rest = path[len("/deployments/") :]
            slash = rest.find("/")
            return rest[slash:] if slash >= 0 else "/"
    return path


class FakeResponder:
    """Deterministic fake answers (see the module docstring).

    ``clock`` gives ``created``/``created_at`` (seconds; the emulator passes
    its virtual clock). Request problems come back as 400/404 results with
    the real error bodies, never as exceptions.
    """

    def __init__(
        self, config: ResponderConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config if config is not None else ResponderConfig()
        self._clock = clock

    async def respond(self, request: RespondRequest) -> RespondResult:
        """The answer; bodies that may take a while to build (structured outputs,
        large embeddings) are built on a worker thread, so the event loop stays free."""
        if _heavy(request.body):
            return await asyncio.to_thread(self.respond_now, request)
        return self.respond_now(request)

    def respond_now(self, request: RespondRequest) -> RespondResult:
        """``respond`` without the coroutine, for hot loops that answer many
        rows in one go."""
        path = endpoint_path(request.url)
        if path == "/messages" and isinstance(request.body, Mapping):
            return messages_response(self.config, request, int(self._clock()))
        if path.endswith(":generateContent") and isinstance(request.body, Mapping):
            return generate_content(self.config, request, int(self._clock()))
        handler = _HANDLERS.get(path)
        if handler is None:
            return error_result(404, f"Invalid URL (POST {request.url})")
        body: object = request.body
        if not isinstance(body, Mapping):
            return error_result(
                400,
                "We could not parse the JSON body of your request. The body must be a JSON object.",
            )
        bad = check_body(path, body)
        if bad is not None:
            return bad
        text, prompt_tokens = prompt_of(path, body)
        markers = find_markers(text)
        if markers is not None and markers.status is not None:
            model = body.get("model")
            return status_error(markers.status, model if isinstance(model, str) else "unknown")
        row = Row(
            config=self.config,
            custom_id=request.custom_id,
            body=body,
            created=int(self._clock()),
            markers=markers,
            prompt_tokens=prompt_tokens,
        )
        return handler(row, body, request.dialect == "azure")

    async def aclose(self) -> None:
        """Nothing to release."""
