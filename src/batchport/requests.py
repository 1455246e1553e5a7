"""One batch request line, and the endpoints a batch can target.

A batch input file is JSONL; each line is one :class:`Request`::

    {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}

:class:`Endpoint` lists every endpoint the OpenAI Batch API accepts, plus Anthropic's
Messages endpoint (``/v1/messages``, whose requests batchport sends in an Anthropic
Message Batch) and Gemini's ``generateContent`` (``/v1beta/generateContent``, see
below), and :func:`required_body_fields` says which body fields each one needs. Which
provider takes which endpoint is :mod:`batchport.limits`' business.

A Gemini request line has the same four keys::

    {"custom_id": "r1", "method": "POST", "url": "/v1beta/generateContent",
     "body": {"model": "gemini-2.5-flash", "contents": [{"role": "user", "parts": [...]}],
              "systemInstruction": {...}, "generationConfig": {...}, "tools": [...], ...}}

Gemini names the model in the path (``models/{model}:generateContent``), so the url is
one for every model and the model travels in ``body["model"]``, a bare name without the
``models/`` prefix, where :attr:`Request.model` finds it as for every other endpoint. The
rest of the body is the REST ``GenerateContentRequest`` in its wire spelling (camelCase:
``contents``, ``systemInstruction``, ``generationConfig``, ``tools``, ``toolConfig``,
``safetySettings``, ``cachedContent``). The Gemini backend takes ``model`` out and sends
the rest as the batch's ``request`` (inline) or a ``{"key", "request"}`` file line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from batchport.errors import InputError

__all__ = [
    "REQUIRED_BODY_FIELDS",
    "Endpoint",
    "Request",
    "as_requests",
    "embedding_inputs",
    "required_body_fields",
]


class Endpoint(StrEnum):
    """A batch endpoint, spelled as its provider's API spells it (``/v1/...``).

    Every member but :attr:`MESSAGES` and :attr:`GENERATE_CONTENT` is an OpenAI Batch API
    endpoint; :attr:`MESSAGES` is Anthropic's Messages API and :attr:`GENERATE_CONTENT`
    Gemini's ``models/{model}:generateContent`` (the model in the body, see the module
    docstring), which no OpenAI or Azure batch can target.
    """

    RESPONSES = "/v1/responses"
    CHAT_COMPLETIONS = "/v1/chat/completions"
    EMBEDDINGS = "/v1/embeddings"
    COMPLETIONS = "/v1/completions"
    MODERATIONS = "/v1/moderations"
    IMAGES_GENERATIONS = "/v1/images/generations"
    IMAGES_EDITS = "/v1/images/edits"
    VIDEOS = "/v1/videos"
    MESSAGES = "/v1/messages"
    GENERATE_CONTENT = "/v1beta/generateContent"

    @classmethod
    def from_url(cls, url: object, *, allow_unversioned: bool = False) -> Endpoint | None:
        """The endpoint a line's ``url`` names, or ``None`` when it names none.

        ``allow_unversioned`` also accepts the form without ``/v1`` (``/chat/completions``),
        which Azure OpenAI's classic API uses.
        """
        if not isinstance(url, str):
            return None
        found = _BY_URL.get(url)
        if found is None and allow_unversioned:
            found = _BY_URL.get("/v1" + url)
        return found

    @property
    def short_name(self) -> str:
        """The path without its version segment, e.g. ``chat/completions`` or
        ``generateContent``."""
        return self.value.split("/", 2)[2]


_BY_URL: dict[str, Endpoint] = {e.value: e for e in Endpoint}

# Each inner tuple is a set of alternatives: the body must carry at least one of them.
# Sources: the SDK's ``*CreateParams`` TypedDicts (``Required[...]`` keys), plus ``model``
# for /v1/responses, since a batch holds one model and the rule is checked on body.model.
# /v1/messages: the ``anthropic`` SDK's ``MessageCreateParamsBase`` (``Required`` keys).
# /v1beta/generateContent: ``contents`` is the one required field of the REST
# GenerateContentRequest (API reference), plus ``model``, which batchport keeps in the body.
REQUIRED_BODY_FIELDS: Mapping[Endpoint, tuple[tuple[str, ...], ...]] = {
    Endpoint.RESPONSES: (("model",), ("input", "prompt")),
    Endpoint.CHAT_COMPLETIONS: (("model",), ("messages",)),
    Endpoint.EMBEDDINGS: (("model",), ("input",)),
    Endpoint.COMPLETIONS: (("model",), ("prompt",)),
    Endpoint.MODERATIONS: (("input",),),
    Endpoint.IMAGES_GENERATIONS: (("prompt",),),
    Endpoint.IMAGES_EDITS: (("image",), ("prompt",)),
    Endpoint.VIDEOS: (("prompt",),),
    Endpoint.MESSAGES: (("model",), ("max_tokens",), ("messages",)),
    Endpoint.GENERATE_CONTENT: (("model",), ("contents",)),
}


def embedding_inputs(value: object) -> int:
    """Inputs in one embeddings request's ``input``: a string or one token array is one,
    a list of strings or of token arrays is one per item; absent is none."""
    if isinstance(value, list):
        if value and isinstance(value[0], int) and not isinstance(value[0], bool):
            return 1
        return len(value)
    return 1 if value is not None else 0


def required_body_fields(endpoint: Endpoint) -> tuple[tuple[str, ...], ...]:
    """Body fields ``endpoint`` requires; each entry lists alternatives (any one will do)."""
    return REQUIRED_BODY_FIELDS[endpoint]


_KEYS = ("custom_id", "method", "url", "body")
_MISSING: Any = object()
_new = object.__new__
_set = object.__setattr__  # past the frozen dataclass's refusal, as its __init__ goes


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One line of a batch input file (keyword-only fields, in wire order).

    ``body`` holds the same parameters as the synchronous endpoint. It is shared, not
    copied, and must be treated as read-only once the request exists (structured-output
    schemas, for instance, are one object shared by every request of a model class).
    """

    custom_id: str
    method: str = "POST"
    url: str
    body: dict[str, Any]

    @property
    def endpoint(self) -> Endpoint | None:
        """The :class:`Endpoint` ``url`` names (``/v1`` form or Azure's short form)."""
        return Endpoint.from_url(self.url, allow_unversioned=True)

    @property
    def model(self) -> str | None:
        """``body["model"]`` when it is a string, else ``None``."""
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the line, keys in the documented order."""
        return {
            "custom_id": self.custom_id,
            "method": self.method,
            "url": self.url,
            "body": self.body,
        }

    def to_json(self) -> bytes:
        """The line as compact UTF-8 JSON, without the trailing newline.

        Raises:
            InputError: the body holds a value JSON cannot carry.
        """
        try:
            return orjson.dumps(self.to_dict())
        except TypeError as exc:
            raise InputError(
                f"custom_id {self.custom_id!r}: body is not JSON-serializable ({exc})",
                rule="invalid_request",
            ) from exc

    @classmethod
    def from_dict(
        cls, data: object, *, path: str | None = None, line: int | None = None
    ) -> Request:
        """Build a request from a parsed line, checking the four keys and their types.

        Raises:
            InputError: a key is missing or has the wrong type; ``path``/``line`` say where.
        """
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise InputError(
                f"expected a JSON object, got {kind}", path=path, line=line, rule="invalid_request"
            )
        get = data.get
        custom_id = get("custom_id", _MISSING)
        method = get("method", _MISSING)
        url = get("url", _MISSING)
        body = get("body", _MISSING)
        if custom_id is _MISSING or method is _MISSING or url is _MISSING or body is _MISSING:
            key = next(k for k in _KEYS if k not in data)
            raise InputError(
                f"Missing required parameter: {key!r}.",
                path=path,
                line=line,
                rule="missing_required_parameter",
            )
        if not isinstance(custom_id, str) or not custom_id:
            raise InputError(
                "custom_id must be a non-empty string", path=path, line=line, rule="invalid_request"
            )
        if not isinstance(method, str) or not isinstance(url, str):
            raise InputError(
                "method and url must be strings", path=path, line=line, rule="invalid_request"
            )
        if not isinstance(body, dict):
            raise InputError(
                "body must be a JSON object", path=path, line=line, rule="invalid_request"
            )
        if cls is not Request:  # a subclass may have an __init__ of its own
            return cls(custom_id=custom_id, url=url, body=body, method=method)
        # What the generated __init__ does, at a third of the cost of its keyword call:
        # every request read from a file or from dicts is made here.
        request = _new(Request)
        _set(request, "custom_id", custom_id)
        _set(request, "method", method)
        _set(request, "url", url)
        _set(request, "body", body)
        return request

    @classmethod
    def from_json(
        cls, raw: bytes | str, *, path: str | None = None, line: int | None = None
    ) -> Request:
        """Parse one JSONL line (surrounding whitespace allowed).

        Raises:
            InputError: the line is not JSON (rule ``invalid_json_line``) or not a request.
        """
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(
                f"This line is not parseable as valid JSON ({exc}).",
                path=path,
                line=line,
                rule="invalid_json_line",
            ) from None
        return cls.from_dict(data, path=path, line=line)

    @classmethod
    def build(
        cls,
        custom_id: str,
        endpoint: Endpoint | str,
        body: Mapping[str, Any],
    ) -> Request:
        """A POST request to ``endpoint`` (an :class:`Endpoint` or its url string)."""
        return cls(custom_id=custom_id, url=str(endpoint), body=dict(body))


def as_requests(items: Iterable[object], label: str = "<requests>") -> Iterator[Request]:
    """``items`` as :class:`Request` s, read as they are needed: a request is kept as it
    is, a dict is read as a batch input line (``custom_id``, ``method``, ``url``,
    ``body``: what a script written for the provider's SDK already has).

    Raises:
        InputError: an item is neither, or a dict is not a request line; the error
            names ``label`` and the item's 1-based position in ``items``.
    """
    for n, item in enumerate(items, 1):
        if isinstance(item, Request):
            yield item
        elif isinstance(item, dict):
            yield Request.from_dict(item, path=label, line=n)
        else:
            raise InputError(
                f"expected a batchport.Request or a request line as a dict, got "
                f"{type(item).__name__}",
                path=label,
                line=n,
                rule="invalid_request",
            )
