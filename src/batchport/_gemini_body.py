"""The Gemini ``generateContent`` body for ``BatchBuilder.models.generate_content``.

:func:`generate_content_body` turns the ``google-genai`` SDK's call keywords (``model``,
``contents``, ``config``) into the REST body the SDK would send, by the SDK's rules
(``_transformers.t_contents`` / ``t_content`` / ``t_tools`` and the
``_GenerateContentParameters_to_mldev`` converter), reproduced here so that building a
Gemini request never imports the SDK (about a second, and an optional extra):

- ``contents``: a string, a part, a Content, or a list of them. A list's loose parts are
  grouped into turns: consecutive parts without a function call become one ``user``
  turn, consecutive function calls one ``model`` turn; a nested list is one user turn.
- ``config``: a dict (snake_case or camelCase keys, as the SDK's pydantic types accept)
  or a ``types.GenerateContentConfig``. ``system_instruction``, ``tools``, ``tool_config``,
  ``safety_settings``, ``cached_content``, ``labels``, ``service_tier`` and ``store`` go to
  the request, every other field into ``generationConfig``; function declarations of all
  tools are merged into one tool, after the others.
- SDK objects (``types.Part``, ``types.Content``, ``types.Tool``...) are read through
  their own ``model_dump``; bytes become base64; keys are written in camelCase, except
  inside values that are free JSON (function ``args`` and ``response``, JSON schemas,
  ``labels``, schema ``default`` / ``example``) and schema ``properties`` names.

Refused (:class:`~batchport.errors.InputError`, rule ``invalid_request``): what a batch
line cannot carry (``http_options``, ``should_return_http_response``, Python callables
as tools, so automatic function calling, ``automatic_continuation=True``), the fields the
SDK refuses on the Gemini Developer API (``routing_config``, ``model_selection_config``,
``audio_timestamp``, ``model_armor_config``, ``generation_output_config``: Vertex only),
unknown config fields, and values JSON cannot carry (a PIL image, say: pass bytes with
``types.Part.from_bytes``).
"""

from __future__ import annotations

import base64
import enum
import inspect
import re
from collections.abc import Mapping
from typing import Any

import pydantic

from batchport.errors import InputError
from batchport.schema import gemini_response_schema

__all__ = ["generate_content_body"]

_REQUEST_LEVEL = frozenset({
    "systemInstruction", "tools", "toolConfig", "safetySettings", "cachedContent", "labels",
    "serviceTier", "store", "continuationToken",
})  # fmt: skip
_GENERATION = frozenset({
    "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences",
    "responseLogprobs", "logprobs", "presencePenalty", "frequencyPenalty", "seed",
    "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities",
    "mediaResolution", "speechConfig", "thinkingConfig", "imageConfig",
    "enableEnhancedCivicAnswers", "audioTranscriptionConfig",
})  # fmt: skip
_VERTEX_ONLY = frozenset({
    "routingConfig", "modelSelectionConfig", "audioTimestamp", "modelArmorConfig",
    "generationOutputConfig",
})  # fmt: skip
_CLIENT_ONLY = frozenset({"httpOptions", "shouldReturnHttpResponse"})
# Free JSON values: their keys are the caller's, never renamed.
_OPAQUE = frozenset({
    "args", "parametersJsonSchema", "responseJsonSchema", "labels", "default", "example",
})  # fmt: skip
# Keys of a Part (and a FileData, which the SDK also reads as a part).
_PART_KEYS = frozenset({
    "mediaResolution", "codeExecutionResult", "executableCode", "fileData", "functionCall",
    "functionResponse", "inlineData", "text", "thought", "thoughtSignature", "videoMetadata",
    "toolCall", "toolResponse", "partMetadata",
})  # fmt: skip
_FILE_DATA_KEYS = frozenset({"fileUri", "mimeType", "displayName"})
_CAMEL = re.compile(r"_([a-z0-9])")


def _camel(key: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), key)


class _Call:
    """The call being built: its name for messages."""

    def __init__(self, call: str) -> None:
        self.call = call

    def bad(self, what: str) -> InputError:
        return InputError(f"{self.call}: {what}", rule="invalid_request")


def generate_content_body(
    model: object, contents: object, config: object, call: str
) -> tuple[dict[str, Any], type | None]:
    """The wire body (with a bare ``model``) and the structured-output type, if any.

    Raises:
        InputError: rule ``invalid_request``, naming the keyword and what is wrong.
    """
    ctx = _Call(call)
    body: dict[str, Any] = {"model": _model(model, ctx), "contents": _contents(contents, ctx)}
    output_type = None
    if config is not None:
        output_type = _config(_config_items(config, ctx), body, ctx)
    return body, output_type


def _model(model: object, ctx: _Call) -> str:
    if not isinstance(model, str) or not model:
        raise ctx.bad("model must be a non-empty string")
    if ".." in model or "?" in model or "&" in model:
        raise ctx.bad(f"invalid model {model!r}")
    return model.removeprefix("models/")


# -- plain JSON ---------------------------------------------------------------------


def _wire(value: Any, ctx: _Call, parent: str = "") -> Any:
    """``value`` as JSON, keys camelCased where they are the API's."""
    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, enum.Enum):
        return _wire(value.value, ctx, parent)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, pydantic.BaseModel):
        return _wire(value.model_dump(by_alias=True, exclude_none=True), ctx, parent)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ctx.bad(f"a key {key!r} that is not a string")
            name = _camel(key)
            if name in _OPAQUE or (name == "response" and parent == "functionResponse"):
                out[name] = _plain(item, ctx)
            elif name == "properties" and isinstance(item, Mapping):
                out[name] = {str(k): _wire(v, ctx, "properties") for k, v in item.items()}
            elif item is not None:
                out[name] = _wire(item, ctx, name)
        return out
    if isinstance(value, list | tuple):
        return [_wire(item, ctx, parent) for item in value]
    if callable(value):
        raise ctx.bad(
            f"{getattr(value, '__name__', value)!r} is a Python callable; a batch request "
            "cannot run code (automatic function calling). Declare the function "
            "(types.FunctionDeclaration or a dict) and answer its calls in a later request"
        )
    raise ctx.bad(
        f"a {type(value).__name__} cannot be carried in a JSON body (pass bytes with "
        "types.Part.from_bytes, or a dict)"
    )


def _plain(value: Any, ctx: _Call) -> Any:
    """Free JSON: keys kept as they are."""
    if isinstance(value, pydantic.BaseModel):
        return _plain(value.model_dump(mode="json", exclude_none=True), ctx)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, ctx) for v in value]
    if isinstance(value, type) and issubclass(value, pydantic.BaseModel):
        return value.model_json_schema()
    return _wire(value, ctx)


# -- contents -----------------------------------------------------------------------


def _is_sdk(value: object, name: str) -> bool:
    """Whether ``value`` is (a subclass of) the SDK type ``name``, without importing it."""
    return any(
        kind.__name__ == name and kind.__module__.startswith("google.genai")
        for kind in type(value).__mro__
    )


def _part(value: object, ctx: _Call) -> dict[str, Any] | None:
    """``value`` as a wire part, or None when it is not a part."""
    if isinstance(value, str):
        return {"text": value}
    if _is_sdk(value, "File"):
        uri, mime = getattr(value, "uri", None), getattr(value, "mime_type", None)
        if not uri or not mime:
            raise ctx.bad("a file part needs its uri and mime_type")
        return {"fileData": {"fileUri": uri, "mimeType": mime}}
    if _is_sdk(value, "Part"):
        wired: dict[str, Any] = _wire(value, ctx)
        return wired
    if isinstance(value, Mapping) and value:
        names = {_camel(str(k)) for k in value}
        if names <= _PART_KEYS:
            wired = _wire(value, ctx)
            return wired
        if names <= _FILE_DATA_KEYS and "fileUri" in names:
            return {"fileData": _wire(value, ctx)}
    return None


def _content(value: object, ctx: _Call) -> dict[str, Any]:
    if _is_sdk(value, "Content") or (
        isinstance(value, Mapping) and {_camel(str(k)) for k in value} <= {"role", "parts"}
    ):
        content: dict[str, Any] = _wire(value, ctx)
        parts = content.get("parts")
        if isinstance(parts, list):
            content["parts"] = [_part(p, ctx) or _wire(p, ctx) for p in parts]
        return content
    part = _part(value, ctx)
    if part is None:
        raise ctx.bad(f"contents: unsupported content {_short(value)}")
    return {"role": "model" if "functionCall" in part else "user", "parts": [part]}


def _contents(contents: object, ctx: _Call) -> list[dict[str, Any]]:
    if contents is None or (isinstance(contents, list | tuple) and not contents):
        raise ctx.bad("contents are required")
    if not isinstance(contents, list | tuple):
        return [_content(contents, ctx)]
    turns: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []

    def flush() -> None:
        if loose:
            calls = any("functionCall" in p for p in loose)
            turns.append({"role": "model" if calls else "user", "parts": list(loose)})
            loose.clear()

    for item in contents:
        if isinstance(item, list):
            flush()
            parts = [_part(p, ctx) or _wire(p, ctx) for p in item]
            turns.append({"role": "user", "parts": parts})
            continue
        part = None if _is_sdk(item, "Content") else _part(item, ctx)
        if part is None:
            flush()
            turns.append(_content(item, ctx))
        else:
            if loose and ("functionCall" in part) != ("functionCall" in loose[-1]):
                flush()
            loose.append(part)
    flush()
    return turns


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- config -------------------------------------------------------------------------


def _config_items(config: object, ctx: _Call) -> dict[str, Any]:
    """The config's set fields, by wire (camelCase) name."""
    if isinstance(config, pydantic.BaseModel):
        fields = type(config).model_fields
        source: Mapping[str, Any] = {name: getattr(config, name) for name in fields}
    elif isinstance(config, Mapping):
        source = config
    else:
        raise ctx.bad(f"config must be a dict or types.GenerateContentConfig, got {_short(config)}")
    items: dict[str, Any] = {}
    for key, value in source.items():
        name = _camel(str(key))
        if value is None:
            continue
        if name in items:
            raise ctx.bad(f"config sets {name} twice (as {key!r} and its other spelling)")
        items[name] = value
    return items


def _config(items: dict[str, Any], body: dict[str, Any], ctx: _Call) -> type | None:
    for name in ("automaticFunctionCalling", "automaticContinuation"):
        value = items.pop(name, None)
        if name == "automaticContinuation" and value is True:
            raise ctx.bad("automatic_continuation=True: a batch returns each response as it ends")
    generation: dict[str, Any] = {}
    output_type = None
    for name, value in items.items():
        if name in _CLIENT_ONLY:
            raise ctx.bad(f"config.{name} is client-side; a batch request line cannot carry it")
        if name in _VERTEX_ONLY:
            raise ctx.bad(f"config.{name} is only supported on Vertex AI, not the Gemini API")
        if name == "responseSchema":
            generation[name] = gemini_response_schema(_plain_schema(value))
            output_type = value if isinstance(value, type) else output_type
        elif name == "responseJsonSchema":
            generation[name] = _plain(value, ctx)
            output_type = value if isinstance(value, type) else output_type
        elif name in _GENERATION:
            generation[name] = _wire(value, ctx, name)
        elif name in _REQUEST_LEVEL:
            body[name] = _request_field(name, value, ctx)
        else:
            raise ctx.bad(f"GenerateContentConfig has no field {name!r}")
    if "speechConfig" in generation and isinstance(items["speechConfig"], str):
        voice = {"prebuiltVoiceConfig": {"voiceName": items["speechConfig"]}}
        generation["speechConfig"] = {"voiceConfig": voice}
    body["generationConfig"] = generation  # sent even when empty, as the SDK sends it
    return output_type


def _plain_schema(value: object) -> object:
    """A schema given as an SDK ``types.Schema`` is read through its dump."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    return value


def _request_field(name: str, value: Any, ctx: _Call) -> Any:
    if name == "systemInstruction":
        return _content(value, ctx)
    if name == "tools":
        return _tools(value, ctx)
    if name == "cachedContent":
        if not isinstance(value, str) or not value:
            raise ctx.bad("config.cached_content must be a cache name")
        return value if value.startswith("cachedContents/") else f"cachedContents/{value}"
    return _wire(value, ctx, name)


def _tools(tools: object, ctx: _Call) -> list[dict[str, Any]]:
    """The SDK's ``t_tools``: function declarations of every tool merged into one tool,
    placed after the other tools."""
    if not isinstance(tools, list | tuple):
        raise ctx.bad("config.tools must be a list")
    out: list[dict[str, Any]] = []
    declarations: list[Any] = []
    for tool in tools:
        if inspect.isfunction(tool) or inspect.ismethod(tool) or callable(tool):
            _wire(tool, ctx)  # raises: a callable is automatic function calling
        wired = _wire(tool, ctx, "tools")
        if not isinstance(wired, dict):
            raise ctx.bad(f"config.tools: unsupported tool {_short(tool)}")
        found = wired.pop("functionDeclarations", None)
        if found:
            declarations.extend(found)
            if wired:
                out.append(wired)
        elif wired or found is not None:
            out.append(wired if found is None else {**wired, "functionDeclarations": found})
    if declarations:
        out.append({"functionDeclarations": declarations})
    return out
