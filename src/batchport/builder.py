"""Build batch requests with the official SDK's call shapes.

::

    builder = BatchBuilder()
    builder.responses.parse(custom_id="r1", model="gpt-4o-mini", input="Great phone",
                            text_format=Sentiment)
    builder.chat.completions.create(model="gpt-4o-mini", messages=[...])
    builder.messages.create(model="claude-haiku-4-5", max_tokens=512, messages=[...])
    builder.models.generate_content(model="gemini-2.5-flash", contents="Great phone",
                                    config={"response_mime_type": "application/json",
                                            "response_schema": Sentiment})
    builder.write("batch.jsonl")

Keyword names are the SDK's (``openai``; ``anthropic`` for ``messages``, whose requests
go to ``/v1/messages`` and run on the ``anthropic`` backend; ``google-genai`` for
``models.generate_content``, whose requests go to ``/v1beta/generateContent`` and run on
the ``gemini`` backend); keywords batchport does not know pass straight into the
body, and ``extra_body`` is merged in last, as the SDK does. Nothing is validated
against the API's parameter types here (the provider does that); what is checked is
what would make a batch file unusable: duplicate ids, ``stream=True``, missing
required fields, and values JSON cannot carry.
"""

from __future__ import annotations

import enum
import hashlib
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from batchport.errors import InputError
from batchport.jsonl import WriteStats, write_requests
from batchport.requests import Endpoint, Request, required_body_fields
from batchport.schema import (
    chat_response_format,
    is_model_instance,
    is_output_type,
    messages_output_format,
    responses_text_format,
)

# Neither pydantic nor a provider SDK is imported here (they take about half a second):
# a value can only be one of their objects once its package is loaded, so the checks
# below look for the package in sys.modules instead.

__all__ = ["BatchBuilder", "GroupKey"]

_CALL_ONLY = frozenset({"extra_body", "extra_headers", "extra_query", "timeout"})


class GroupKey(NamedTuple):
    """The (endpoint url, model) pair a batch file must hold exactly one of."""

    endpoint: str
    model: str | None

    def __str__(self) -> str:
        return f"{self.endpoint} × {self.model or '(no model)'}"


class BatchBuilder:
    """Collects :class:`Request` objects; iterable, sized, and writable as batch files.

    Each method returns the :class:`Request` it added. Without ``custom_id=`` a request
    gets ``req-<20 hex>``, a hash of its endpoint and body: the same call gives the same
    id in every run, whatever the order of calls; identical requests get ``-2``, ``-3``...
    """

    def __init__(self, *, id_prefix: str = "req") -> None:
        self._id_prefix = id_prefix
        self._requests: list[Request] = []
        self._ids: set[str] = set()
        self._repeats: dict[str, int] = {}
        self._output_types: dict[str, type] = {}
        self._groups: dict[GroupKey, list[Request]] = {}
        self.responses = _Responses(self)
        self.chat = _Chat(self)
        self.messages = _Messages(self)
        self.models = _Models(self)
        self.embeddings = _Simple(self, Endpoint.EMBEDDINGS, "embeddings.create")
        self.completions = _Simple(self, Endpoint.COMPLETIONS, "completions.create")
        self.moderations = _Simple(self, Endpoint.MODERATIONS, "moderations.create")

    # -- adding ---------------------------------------------------------------------

    def add(self, request: Request, *, output_type: type | None = None) -> Request:
        """Add a ready-made request; ``output_type`` records its structured-output model.

        Raises:
            InputError: ``request.custom_id`` is already taken.
        """
        if request.custom_id in self._ids:
            raise InputError(
                f"duplicate custom_id {request.custom_id!r}: each request in a batch needs "
                "its own id",
                rule="duplicate_custom_id",
            )
        self._ids.add(request.custom_id)
        self._requests.append(request)
        model = request.body.get("model")
        key = GroupKey(request.url, model if isinstance(model, str) else None)
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = group = []
        group.append(request)
        if output_type is not None:
            self._output_types[request.custom_id] = output_type
        return request

    def extend(self, requests: Iterable[Request]) -> None:
        """Add each request of ``requests`` (see :meth:`add`)."""
        for request in requests:
            self.add(request)

    def request(
        self,
        endpoint: Endpoint | str,
        body: Mapping[str, Any],
        *,
        custom_id: str | None = None,
        output_type: type | None = None,
    ) -> Request:
        """Add a request to any batch endpoint (images, videos...) from a plain body."""
        ep = Endpoint.from_url(endpoint, allow_unversioned=True)
        if ep is None:
            known = ", ".join(e.value for e in Endpoint)
            raise InputError(
                f"unknown batch endpoint {endpoint!r}; known: {known}", rule="invalid_url"
            )
        return self._build(ep, dict(body), custom_id, output_type, f"request({ep.value!r})")

    def _build(
        self,
        endpoint: Endpoint,
        body: dict[str, Any],
        custom_id: str | None,
        output_type: type | None,
        call: str,
    ) -> Request:
        # ``body`` is the call's own **kwargs dict, so it is ours to change.
        if not _CALL_ONLY.isdisjoint(body):
            _apply_call_options(body, call)
        if body.get("stream"):
            raise InputError(
                f"{call}: stream=True is not supported in batch requests; "
                "a batch returns each response whole",
                rule="streaming_unsupported",
            )
        _normalize_body(body, call)
        for alternatives in required_body_fields(endpoint):
            if not any(name in body for name in alternatives):
                wanted = " or ".join(repr(name) for name in alternatives)
                raise InputError(
                    f"{call} missing required parameter {wanted}", rule="invalid_request"
                )
        if custom_id is None:
            custom_id = self._generate_id(endpoint, body, call)
        elif not isinstance(custom_id, str) or not custom_id:
            raise InputError(
                f"{call}: custom_id must be a non-empty string", rule="invalid_request"
            )
        return self.add(
            Request(custom_id=custom_id, url=endpoint.value, body=body), output_type=output_type
        )

    def _generate_id(self, endpoint: Endpoint, body: dict[str, Any], call: str) -> str:
        try:
            canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except TypeError as exc:
            raise InputError(
                f"{call}: body is not JSON-serializable ({exc})", rule="invalid_request"
            ) from exc
        digest = hashlib.blake2b(endpoint.value.encode(), digest_size=10)
        digest.update(canonical)
        base = f"{self._id_prefix}-{digest.hexdigest()}"
        if base not in self._ids:
            return base
        n = self._repeats.get(base, 1)
        while True:
            n += 1
            candidate = f"{base}-{n}"
            if candidate not in self._ids:
                self._repeats[base] = n
                return candidate

    # -- reading --------------------------------------------------------------------

    def __iter__(self) -> Iterator[Request]:
        return iter(self._requests)

    def __len__(self) -> int:
        return len(self._requests)

    def __contains__(self, custom_id: object) -> bool:
        return custom_id in self._ids

    def __repr__(self) -> str:
        return f"<BatchBuilder {len(self._requests)} requests in {len(self._groups)} group(s)>"

    def output_model(self, custom_id: str) -> type | None:
        """The structured-output type given for ``custom_id`` (``text_format`` /
        ``response_format``), or ``None`` for a request without one."""
        return self._output_types.get(custom_id)

    @property
    def output_models(self) -> Mapping[str, type]:
        """Read-only view: custom_id -> structured-output type, for requests that have one."""
        return MappingProxyType(self._output_types)

    def groups(self) -> dict[GroupKey, list[Request]]:
        """Requests by (endpoint, model), in the order each group first appeared."""
        return {key: list(requests) for key, requests in self._groups.items()}

    # -- writing --------------------------------------------------------------------

    def write(self, path: str | Path) -> WriteStats:
        """Write every request into one batch file, atomically replacing ``path``.

        Raises:
            InputError: the builder is empty, or holds more than one (endpoint, model)
                group; the message names the groups (see :meth:`write_groups`).
        """
        if not self._requests:
            raise InputError("the builder holds no requests; nothing to write", rule="empty_file")
        if len(self._groups) > 1:
            listing = "; ".join(
                f"{key} ({len(reqs)} requests)" for key, reqs in self._groups.items()
            )
            raise InputError(
                f"cannot write {len(self._groups)} groups into one batch file, which takes "
                f"a single endpoint and a single model. Groups: {listing}. "
                "Use write_groups(directory) to write one file per group.",
                path=str(path),
                rule="mixed_batch",
            )
        return write_requests(path, self._requests)

    def write_groups(
        self, directory: str | Path, *, stem: str = "batch"
    ) -> dict[GroupKey, WriteStats]:
        """Write one batch file per (endpoint, model) group into ``directory``.

        Files are named ``<stem>-<endpoint>-<model>.jsonl``, e.g.
        ``batch-chat-completions-gpt-4o-mini.jsonl``; the directory is created if needed.
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        written: dict[GroupKey, WriteStats] = {}
        for key, requests in self._groups.items():
            name = _file_name(stem, key, taken)
            written[key] = write_requests(folder / name, requests)
        return written


def _apply_call_options(body: dict[str, Any], call: str) -> None:
    for name in ("extra_headers", "extra_query", "timeout"):
        if body.pop(name, None) is not None:
            raise InputError(
                f"{call}: {name} cannot be carried in a batch file (a batch line has only a body)",
                rule="invalid_request",
            )
    extra = body.pop("extra_body", None)
    if extra is not None:
        if not isinstance(extra, Mapping):
            raise InputError(f"{call}: extra_body must be a mapping", rule="invalid_request")
        body.update(extra)


def _is_omitted(value: object) -> bool:
    openai = sys.modules.get("openai")
    sentinels = (getattr(openai, "Omit", None), getattr(openai, "NotGiven", None))
    if any(isinstance(cls, type) and isinstance(value, cls) for cls in sentinels):
        return True
    # the anthropic SDK's own ``omit`` / ``NOT_GIVEN``, recognized without importing it
    kind = type(value)
    module = kind.__module__
    return kind.__name__ in ("Omit", "NotGiven") and module.partition(".")[0] == "anthropic"


_PLAIN = frozenset({str, int, float, bool, type(None), dict})
_PLAIN_ITEMS = _PLAIN | {list}
_DROP = object()


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _normalize_body(body: dict[str, Any], call: str) -> None:
    """Make top-level values plain JSON types, as the SDK's transform would send them.

    Lists and dicts are copied down to the message level, so that a caller who reuses
    and changes one ``messages`` list between calls (harmless with the SDK, which sends
    at once) does not rewrite the requests already built. Tuples, generators, pydantic
    objects, enums and ``omit``/``NOT_GIVEN`` take the slow path.
    """
    dropped: list[str] = []
    for key, value in body.items():
        kind = type(value)
        if kind in _SCALARS:
            continue
        if kind is list and all(type(v) in _PLAIN_ITEMS for v in value):
            body[key] = [dict(v) if type(v) is dict else v for v in value]
            continue
        if kind is dict:
            body[key] = dict(value)
            continue
        clean = _jsonable(value, call, key)
        if clean is _DROP:
            dropped.append(key)
        else:
            body[key] = clean
    for key in dropped:
        del body[key]


def _jsonable(value: Any, call: str, key: str) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value.value if isinstance(value, enum.Enum) else value
    if _is_omitted(value):
        return _DROP
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, call, key)
    if is_model_instance(value):
        return value.model_dump(mode="json", exclude_unset=True, by_alias=True)
    if isinstance(value, Mapping):
        items = ((str(k), _jsonable(v, call, key)) for k, v in value.items())
        return {k: v for k, v in items if v is not _DROP}
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [v for v in (_jsonable(item, call, key) for item in value) if v is not _DROP]
    raise InputError(
        f"{call}: parameter {key!r} holds a {type(value).__name__}, which a JSON body cannot carry",
        rule="invalid_request",
    )


_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def _file_name(stem: str, key: GroupKey, taken: set[str]) -> str:
    endpoint = key.endpoint.strip("/").partition("/")[2].replace("/", "-")
    model = _SLUG_BAD.sub("_", key.model) if key.model else "default"
    base = f"{stem}-{endpoint}-{model}"
    name, n = f"{base}.jsonl", 1
    while name in taken:
        n += 1
        name = f"{base}-{n}.jsonl"
    taken.add(name)
    return name


class _Responses:
    """``builder.responses``: mirrors ``client.responses``."""

    def __init__(self, builder: BatchBuilder) -> None:
        self._builder = builder

    def create(self, *, custom_id: str | None = None, **params: Any) -> Request:
        """Add a ``/v1/responses`` request; keywords as ``client.responses.create``."""
        return self._builder._build(Endpoint.RESPONSES, params, custom_id, None, "responses.create")

    def parse(
        self, *, text_format: type | None = None, custom_id: str | None = None, **params: Any
    ) -> Request:
        """Add a ``/v1/responses`` request whose output follows ``text_format``.

        Like ``client.responses.parse``: ``text.format`` becomes the strict JSON schema of
        ``text_format``, and the builder remembers the type for ``custom_id``.

        Raises:
            InputError: ``text`` already has a ``format``, or ``text_format`` is not a
                pydantic model (or pydantic dataclass).
        """
        if text_format is not None and not _is_omitted(text_format):
            fmt = responses_text_format(text_format)
            text = params.get("text")
            if not text:
                params["text"] = {"format": fmt}
            elif "format" in text:
                raise InputError(
                    "Cannot mix and match text.format with text_format", rule="invalid_request"
                )
            else:
                params["text"] = {**text, "format": fmt}
            return self._builder._build(
                Endpoint.RESPONSES, params, custom_id, text_format, "responses.parse"
            )
        return self._builder._build(Endpoint.RESPONSES, params, custom_id, None, "responses.parse")


class _ChatCompletions:
    """``builder.chat.completions``: mirrors ``client.chat.completions``."""

    def __init__(self, builder: BatchBuilder) -> None:
        self._builder = builder

    def create(self, *, custom_id: str | None = None, **params: Any) -> Request:
        """Add a ``/v1/chat/completions`` request; keywords as the SDK's ``create``."""
        return self._builder._build(
            Endpoint.CHAT_COMPLETIONS, params, custom_id, None, "chat.completions.create"
        )

    def parse(
        self, *, response_format: Any = None, custom_id: str | None = None, **params: Any
    ) -> Request:
        """Add a chat request whose output follows ``response_format`` (a pydantic model).

        The body gets the chat wire shape ``{"type": "json_schema", "json_schema": {...}}``;
        a ``response_format`` dict passes through unchanged, as in the SDK.

        Raises:
            InputError: ``response_format`` is neither a model type nor a dict.
        """
        output_type: type | None = None
        if response_format is not None and not _is_omitted(response_format):
            if isinstance(response_format, Mapping):
                params["response_format"] = dict(response_format)
            elif is_output_type(response_format):
                output_type = response_format
                params["response_format"] = chat_response_format(response_format)
            else:
                raise InputError(
                    f"chat.completions.parse: unsupported response_format {response_format!r}; "
                    "pass a pydantic model class",
                    rule="invalid_request",
                )
        return self._builder._build(
            Endpoint.CHAT_COMPLETIONS, params, custom_id, output_type, "chat.completions.parse"
        )


class _Chat:
    """``builder.chat``: holds ``completions`` as the SDK's ``client.chat`` does."""

    def __init__(self, builder: BatchBuilder) -> None:
        self.completions = _ChatCompletions(builder)


class _Simple:
    """``builder.embeddings`` / ``.completions`` / ``.moderations``: ``create`` only."""

    def __init__(self, builder: BatchBuilder, endpoint: Endpoint, call: str) -> None:
        self._builder = builder
        self._endpoint = endpoint
        self._call = call

    def create(self, *, custom_id: str | None = None, **params: Any) -> Request:
        """Add a request; keywords as the SDK's ``create`` for this endpoint."""
        return self._builder._build(self._endpoint, params, custom_id, None, self._call)


# ``client.messages.create`` sends these as request headers, which a batch request lacks.
_MESSAGES_HEADER_PARAMS = ("user_profile_id", "workspace_id")


class _Messages:
    """``builder.messages``: mirrors the ``anthropic`` SDK's ``client.messages``."""

    def __init__(self, builder: BatchBuilder) -> None:
        self._builder = builder

    def _add(
        self, params: dict[str, Any], custom_id: str | None, out: type | None, call: str
    ) -> Request:
        for name in _MESSAGES_HEADER_PARAMS:
            value = params.pop(name, None)
            if value is not None and not _is_omitted(value):
                raise InputError(
                    f"{call}: {name} is sent as a request header, which a batch request "
                    "cannot carry",
                    rule="invalid_request",
                )
        return self._builder._build(Endpoint.MESSAGES, params, custom_id, out, call)

    def create(self, *, custom_id: str | None = None, **params: Any) -> Request:
        """Add a ``/v1/messages`` request; keywords as ``client.messages.create``
        (``model``, ``max_tokens`` and ``messages`` required; ``system``, ``tools``,
        ``tool_choice``, ``output_config``, ``thinking``... pass through).

        Raises:
            InputError: ``stream=True``, a required keyword is missing, or a keyword the
                SDK sends as a header (``user_profile_id``, ``workspace_id``) is given.
        """
        return self._add(params, custom_id, None, "messages.create")

    def parse(
        self, *, output_format: Any = None, custom_id: str | None = None, **params: Any
    ) -> Request:
        """Add a ``/v1/messages`` request whose output follows ``output_format``.

        Like ``client.messages.parse``: ``output_config.format`` becomes
        ``{"type": "json_schema", "schema": ...}``, the JSON schema of ``output_format``
        rewritten as the SDK rewrites it (see :func:`batchport.schema.claude_json_schema`),
        merged into any other ``output_config`` keys; the builder remembers the type for
        ``custom_id``.

        Raises:
            InputError: ``output_format`` is not a type or has no JSON schema, or
                ``output_config`` already has a ``format``; as :meth:`create` otherwise.
        """
        if output_format is None or _is_omitted(output_format):
            return self._add(params, custom_id, None, "messages.parse")
        fmt = messages_output_format(output_format)
        config = params.get("output_config")
        if config is None or _is_omitted(config):
            params["output_config"] = {"format": fmt}
        elif not isinstance(config, Mapping):
            raise InputError(
                "messages.parse: output_config must be a mapping", rule="invalid_request"
            )
        elif config.get("format") is not None:
            raise InputError(
                "messages.parse: both output_format and output_config.format were given; "
                "pass only one",
                rule="invalid_request",
            )
        else:
            params["output_config"] = {**config, "format": fmt}
        return self._add(params, custom_id, output_format, "messages.parse")


class _Models:
    """``builder.models``: mirrors the ``google-genai`` SDK's ``client.models``."""

    def __init__(self, builder: BatchBuilder) -> None:
        self._builder = builder

    def generate_content(
        self,
        *,
        model: str,
        contents: Any,
        config: Any = None,
        custom_id: str | None = None,
        **unknown: Any,
    ) -> Request:
        """Add a ``/v1beta/generateContent`` request; keywords as
        ``client.models.generate_content`` (``model``, ``contents``, ``config``).

        The body is the REST ``GenerateContentRequest`` the SDK would send (see
        :mod:`batchport._gemini_body`), with the bare model name in ``model``. A
        ``response_schema`` type in ``config`` is written as the SDK writes it
        (:func:`batchport.schema.gemini_response_schema`) and remembered for
        ``custom_id``, as is a pydantic model given as ``response_json_schema`` (written
        as its JSON schema).

        Raises:
            InputError: a keyword the SDK call does not take (``stream``: a batch returns
                whole responses), missing ``contents``, a config field a batch line
                cannot carry (``http_options``, Python callables as tools...), a
                Vertex-only field, or a schema Gemini's ``Schema`` cannot express.
        """
        call = "models.generate_content"
        if unknown:
            names = ", ".join(sorted(unknown))
            hint = "; a batch returns each response whole" if "stream" in unknown else ""
            raise InputError(
                f"{call}: unexpected keyword(s) {names}; it takes model, contents and config{hint}",
                rule="streaming_unsupported" if "stream" in unknown else "invalid_request",
            )
        from batchport._gemini_body import generate_content_body  # imports pydantic

        body, output_type = generate_content_body(model, contents, config, call)
        return self._builder._build(Endpoint.GENERATE_CONTENT, body, custom_id, output_type, call)
