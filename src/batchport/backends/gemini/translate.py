"""Chat completions and responses requests, rewritten as Gemini ``generateContent`` requests.

:func:`to_generate_content` is pure: it reads one :class:`~batchport.requests.Request`
and returns a new one for ``/v1beta/generateContent`` whose body is the REST
``GenerateContentRequest`` in wire spelling plus ``model`` (see :mod:`batchport.requests`).
What it cannot carry over faithfully is an :class:`~batchport.errors.InputError` naming the
request's custom_id and the feature, with rule ``untranslatable_feature``; a model without
a Gemini counterpart has rule ``unmapped_model``; a body of the wrong shape has rule
``invalid_request``. No other exception leaves it.

Translated:

- ``system`` and ``developer`` messages (and Responses ``instructions``) before the first
  turn become ``systemInstruction`` (``{"parts": [{"text": ...}, ...]}``), in order. One
  after the first user or assistant turn has no faithful place: an error.
- user and assistant turns become ``contents`` with roles ``user`` and ``model``,
  consecutive turns of one role merged into one. Text parts become ``{"text"}`` parts
  (empty texts are left out); an assistant's ``refusal`` part is kept as its text. Images
  given as ``data:`` URLs become ``inlineData`` (png, jpeg, webp, heic, heif: the image
  types Gemini's image-understanding guide lists; gif is not among them). ``detail`` is
  dropped: it sets OpenAI's resolution, not what is asked.
- assistant ``tool_calls`` (Responses ``function_call`` items) become ``functionCall``
  parts ``{name, args}``; ``tool`` messages (``function_call_output`` items) become
  ``functionResponse`` parts ``{name, response: {"output": text}}`` in a user turn, the
  name found from the call they answer ("output" is the key the API reads as the
  function's output; ``FunctionResponse.response`` in the ``google-genai`` SDK). Gemini
  matches responses to calls by name and order, so OpenAI's call ids are not sent.
- ``max_completion_tokens`` / ``max_tokens`` / ``max_output_tokens`` become
  ``generationConfig.maxOutputTokens``; absent, ``default_max_tokens`` when given, else
  nothing (Gemini needs no limit).
- ``temperature`` (0..2 on both sides), ``top_p`` -> ``topP``, ``seed``, non-zero
  ``presence_penalty`` / ``frequency_penalty`` -> ``presencePenalty`` /
  ``frequencyPenalty`` (zero, the default on both sides, is left out; some Gemini models
  refuse penalties, which the provider reports on that row).
- ``stop`` (a string or a list) becomes ``stopSequences``; Gemini takes at most 5.
- chat ``logprobs=true`` becomes ``responseLogprobs``, ``top_logprobs`` ``logprobs``; the
  answer's log probabilities arrive in Gemini's own ``logprobsResult`` (in the row's raw
  response), not in OpenAI's shape.
- function tools become one ``{"functionDeclarations": [{name, description,
  parametersJsonSchema}]}`` tool (the JSON schema as given: Gemini reads JSON Schema
  there). ``tool_choice`` ``auto`` / ``none`` / ``required`` / a named function become
  ``toolConfig.functionCallingConfig`` mode ``AUTO`` / ``NONE`` / ``ANY`` / ``ANY`` with
  ``allowedFunctionNames``. A ``strict`` tool asks for calls that follow its schema: its
  ``auto`` becomes ``VALIDATED`` (calls checked against the schema); ``ANY`` already
  constrains calls to it.
- chat ``response_format`` / Responses ``text.format`` ``json_schema`` become
  ``responseMimeType: application/json`` with ``responseJsonSchema`` (the schema as given;
  Gemini reads a JSON Schema subset there: types, properties, required, enum, items,
  anyOf, ``$ref``/``$defs``, min/max bounds, formats, and ignores keywords it does not
  support); ``json_object`` becomes ``responseMimeType: application/json`` alone.

Left out, because they never change the answer: ``store``, ``prompt_cache_key``,
``prompt_cache_retention``, ``user`` / ``safety_identifier`` (abuse monitoring, with no
Gemini field), ``service_tier`` ``auto``/``default``, and parameters at their neutral
value (``n=1``, ``logprobs=false``, zero penalties, empty ``logit_bias``,
``modalities=["text"]``, ``parallel_tool_calls=true``, ``truncation="disabled"``...).

Errors (``untranslatable_feature``), each a deliberate choice:

- ``n`` > 1: Gemini has ``candidateCount``, but batchport reads and judges one answer per
  request, so the other candidates would be paid for and lost.
- ``logit_bias``: no counterpart. ``parallel_tool_calls=false``: Gemini may return
  several calls in one turn and has no switch to stop it.
- more than 5 stop sequences (Gemini's limit).
- ``reasoning_effort`` / ``reasoning``, ``verbosity``: Gemini's thinking budget and
  thinking level mean something else and differ by model.
- images by http(s) URL or ``file_id``: Gemini reads images inline or from its own Files
  API (``fileData`` needs a Files API or YouTube URI and a mime type), so a web address
  has no faithful form; pass a ``data:`` URL. Other image types than the five above.
- replayed function calls for ``gemini-3`` models: those check a thought signature on
  each function call of the history, which an OpenAI conversation does not have.
- audio (``audio``, ``modalities`` with audio, ``input_audio`` parts), file parts,
  ``prediction``, ``web_search_options``, legacy ``functions`` / ``function_call``, and
  every built-in Responses tool (web search, file search, code interpreter...).
- Responses ``previous_response_id``, ``conversation``, ``prompt`` (stored prompts),
  ``background``, ``include``, ``max_tool_calls``, ``truncation="auto"``, item types
  other than messages and function calls.
- non-empty ``metadata``, ``service_tier`` other than ``auto`` / ``default``, a message
  ``name``.
- a conversation that starts with an assistant turn (a function call must follow a user
  turn), or ends with one (OpenAI reads it as an earlier turn; Gemini documents no
  continuation of a final model turn).
- any parameter this module does not know, and every other endpoint (embeddings,
  moderations, completions, images, videos, Anthropic messages).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from batchport.errors import InputError
from batchport.requests import Endpoint, Request

__all__ = ["MAX_STOP_SEQUENCES", "UNMAPPED_MODEL", "UNTRANSLATABLE", "to_generate_content"]

UNTRANSLATABLE = "untranslatable_feature"
UNMAPPED_MODEL = "unmapped_model"
_INVALID = "invalid_request"

MAX_STOP_SEQUENCES = 5
"""Most ``stopSequences`` Gemini takes (``GenerationConfig.stop_sequences``: "up to 5")."""

_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})
# Models that check thought signatures on replayed function calls.
_SIGNED_CALLS = ("gemini-3",)
_DROPPED = frozenset(
    {"store", "prompt_cache_key", "prompt_cache_retention", "user", "safety_identifier"}
)


def _absent(value: object) -> bool:
    return value is None


def _neutral(*values: object) -> Callable[[object], bool]:
    return lambda value: value is None or value in values


def _empty(value: object) -> bool:
    return value is None or value == {} or value == []


# parameter -> "its value here changes nothing"; anything else is untranslatable
_COMMON_NEUTRAL: Mapping[str, Callable[[object], bool]] = {
    "stream": _neutral(False),
    "stream_options": _absent,
    "service_tier": _neutral("auto", "default"),
    "metadata": _empty,
}
_CHAT_NEUTRAL: Mapping[str, Callable[[object], bool]] = {
    **_COMMON_NEUTRAL,
    "n": _neutral(1),
    "logit_bias": _empty,
    "audio": _absent,
    "modalities": lambda v: v is None or v == ["text"],
    "prediction": _absent,
    "web_search_options": _absent,
    "functions": _absent,
    "function_call": _absent,
    "reasoning_effort": _absent,
    "verbosity": _absent,
}
_RESPONSES_NEUTRAL: Mapping[str, Callable[[object], bool]] = {
    **_COMMON_NEUTRAL,
    "top_logprobs": _neutral(0),
    "previous_response_id": _absent,
    "conversation": _absent,
    "prompt": _absent,
    "background": _neutral(False),
    "include": _empty,
    "max_tool_calls": _absent,
    "reasoning": _empty,
    "truncation": _neutral("disabled"),
}


class _Ctx:
    """The request being translated: builds its errors, remembers its function calls."""

    def __init__(self, custom_id: str) -> None:
        self.custom_id = custom_id
        self.call_names: dict[str, str] = {}

    def fail(self, feature: str, why: str) -> InputError:
        return InputError(
            f"custom_id {self.custom_id!r}: {feature} cannot be translated to a Gemini "
            f"generateContent request: {why}",
            rule=UNTRANSLATABLE,
        )

    def bad(self, what: str) -> InputError:
        return InputError(f"custom_id {self.custom_id!r}: {what}", rule=_INVALID)


def to_generate_content(
    request: Request, models: Mapping[str, str], *, default_max_tokens: int | None = None
) -> Request:
    """``request`` as a Gemini ``generateContent`` request (``/v1beta/generateContent``).

    Chat completions and responses bodies are translated (see the module docstring for
    every decision); a ``/v1beta/generateContent`` request keeps its body and has only its
    model mapped. ``models`` maps OpenAI model names to Gemini models; a model starting
    with ``gemini-`` needs no entry, and a ``models/`` prefix is taken off. Without a
    max-tokens field, ``default_max_tokens`` (when given) becomes ``maxOutputTokens``. The
    custom_id is kept as it is.

    Raises:
        InputError: rule ``untranslatable_feature`` (a feature, parameter or endpoint
            without a faithful Gemini form), ``unmapped_model`` (a model missing from
            ``models``) or ``invalid_request`` (a malformed body); the message names the
            custom_id and the feature.
    """
    ctx = _Ctx(request.custom_id)
    endpoint = request.endpoint
    body = request.body
    try:
        if endpoint is Endpoint.GENERATE_CONTENT:
            params = {**body, "model": _model(body.get("model"), models, ctx)}
        elif endpoint is Endpoint.CHAT_COMPLETIONS:
            params = _from_chat(body, models, default_max_tokens, ctx)
        elif endpoint is Endpoint.RESPONSES:
            params = _from_responses(body, models, default_max_tokens, ctx)
        else:
            raise ctx.fail(
                f"a {request.url} request",
                "only chat completions and responses requests have a generateContent form",
            )
    except InputError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise ctx.bad(f"malformed {request.url} body ({type(exc).__name__}: {exc})") from exc
    return Request(custom_id=request.custom_id, url=Endpoint.GENERATE_CONTENT.value, body=params)


# -- parameters ---------------------------------------------------------------------


def _model(value: object, models: Mapping[str, str], ctx: _Ctx) -> str:
    if not isinstance(value, str) or not value:
        raise ctx.bad("model must be a non-empty string")
    mapped = models.get(value)
    if isinstance(mapped, str) and mapped:
        return mapped.removeprefix("models/")
    bare = value.removeprefix("models/")
    if bare.startswith("gemini-"):
        return bare
    raise InputError(
        f"custom_id {ctx.custom_id!r}: model {value!r} has no Gemini model to run on; "
        f'map it, e.g. models={{"{value}": "gemini-2.5-flash"}}',
        rule=UNMAPPED_MODEL,
    )


def _check_keys(
    body: Mapping[str, Any],
    handled: frozenset[str],
    neutral: Mapping[str, Callable[[object], bool]],
    ctx: _Ctx,
) -> None:
    for key, value in body.items():
        if key in handled or key in _DROPPED:
            continue
        check = neutral.get(key)
        if check is None:
            raise ctx.fail(f"parameter {key!r}", "batchport knows no Gemini form for it")
        if not check(value):
            why = {
                "n": "batchport reads one answer per request",
                "logit_bias": "Gemini has no token biases",
            }.get(key, "Gemini has no counterpart")
            raise ctx.fail(f"{key}={_short(value)}", why)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(body: Mapping[str, Any], key: str, low: float, high: float, ctx: _Ctx) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise ctx.bad(f"{key} must be a number from {low:g} to {high:g}, got {_short(value)}")
    return value


def _int(value: object, what: str, ctx: _Ctx, *, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ctx.bad(f"{what} must be an integer of at least {low}, got {_short(value)}")
    return value


def _generation(
    body: Mapping[str, Any], keys: tuple[str, ...], default: int | None, chat: bool, ctx: _Ctx
) -> dict[str, Any]:
    config: dict[str, Any] = {}
    given = {key: body[key] for key in keys if body.get(key) is not None}
    if len(set(map(repr, given.values()))) > 1:
        raise ctx.bad(f"{' and '.join(given)} disagree; set one")
    limit = next(iter(given.values()), default)
    if limit is not None:
        config["maxOutputTokens"] = _int(limit, "max tokens", ctx, low=1)
    for key, wire, low, high in (("temperature", "temperature", 0, 2), ("top_p", "topP", 0, 1)):
        if (value := _number(body, key, low, high, ctx)) is not None:
            config[wire] = value
    if not chat:
        return config
    if body.get("stop") is not None and (stops := _stop(body["stop"], ctx)):
        config["stopSequences"] = stops
    for key, wire in (("presence_penalty", "presencePenalty"),
                      ("frequency_penalty", "frequencyPenalty")):  # fmt: skip
        if (value := _number(body, key, -2, 2, ctx)) is not None and value != 0:
            config[wire] = value
    if body.get("seed") is not None:
        config["seed"] = _int(body["seed"], "seed", ctx, low=-(2**63))
    _logprobs(body, config, ctx)
    return config


def _logprobs(body: Mapping[str, Any], config: dict[str, Any], ctx: _Ctx) -> None:
    wanted = body.get("logprobs")
    top = body.get("top_logprobs")
    if wanted not in (None, True, False):
        raise ctx.bad("logprobs must be a boolean")
    if wanted:
        config["responseLogprobs"] = True
        if top is not None:
            config["logprobs"] = _int(top, "top_logprobs", ctx)
    elif top not in (None, 0):
        raise ctx.bad("top_logprobs needs logprobs=true")


def _stop(value: object, ctx: _Ctx) -> list[str]:
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise ctx.bad("stop must be a string or a list of strings")
    kept = [s for s in stops if s]
    if len(kept) > MAX_STOP_SEQUENCES:
        raise ctx.fail(f"{len(kept)} stop sequences", f"Gemini takes at most {MAX_STOP_SEQUENCES}")
    return kept


# -- tools and output format -------------------------------------------------------


def _declaration(fn: Mapping[str, Any], ctx: _Ctx) -> tuple[dict[str, Any], bool]:
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise ctx.bad("a function tool needs a name")
    declaration: dict[str, Any] = {"name": name}
    if fn.get("description"):
        declaration["description"] = fn["description"]
    schema = fn.get("parameters")
    if schema is not None:
        if not isinstance(schema, dict):
            raise ctx.bad(f"tool {name!r} parameters must be a JSON schema object")
        declaration["parametersJsonSchema"] = schema
    return declaration, bool(fn.get("strict"))


def _tools(body: Mapping[str, Any], chat: bool, ctx: _Ctx) -> dict[str, Any]:
    """``tools`` and ``toolConfig`` for the body (empty without tools)."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    parallel = body.get("parallel_tool_calls")
    if parallel is False:
        raise ctx.fail("parallel_tool_calls=False", "Gemini has no switch for parallel calls")
    if parallel is not None and parallel is not True:
        raise ctx.bad("parallel_tool_calls must be a boolean")
    if not tools:
        if choice not in (None, "none", "auto"):
            raise ctx.bad("tool_choice is set but there are no tools")
        return {}
    if not isinstance(tools, list):
        raise ctx.bad("tools must be a list")
    declarations, strict = [], False
    for tool in tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise ctx.fail(f"a {kind or 'malformed'} tool", "only function tools have a form")
        declaration, is_strict = _declaration(tool["function"] if chat else tool, ctx)
        declarations.append(declaration)
        strict = strict or is_strict
    out: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    calling = _calling_config(choice, strict, chat, ctx)
    if calling is not None:
        out["toolConfig"] = {"functionCallingConfig": calling}
    return out


def _calling_config(choice: object, strict: bool, chat: bool, ctx: _Ctx) -> dict[str, Any] | None:
    if choice is None or choice == "auto":
        return {"mode": "VALIDATED"} if strict else None
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice["function"]["name"] if chat else choice["name"]
        if not isinstance(name, str) or not name:
            raise ctx.bad("tool_choice names no function")
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise ctx.fail(f"tool_choice={_short(choice)}", "only auto, none, required or a function")


def _output_format(fmt: object, where: str, ctx: _Ctx) -> dict[str, Any]:
    """``response_format`` (chat, its schema under ``json_schema``) or ``text.format``, as
    generationConfig keys."""
    if fmt is None:
        return {}
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind != "json_schema":
        raise ctx.fail(f"{where} {kind or _short(fmt)}", "only text, json_object or json_schema")
    assert isinstance(fmt, dict)
    spec = fmt.get("json_schema", fmt)
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise ctx.bad(f"{where}: a JSON schema object is needed")
    return {"responseMimeType": "application/json", "responseJsonSchema": schema}


# -- content ------------------------------------------------------------------------


def _parts(content: object, ctx: _Ctx, *, text_only: bool = False) -> list[dict[str, Any]]:
    """Text and image parts (chat or Responses spelling) as Gemini parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise ctx.bad("message content must be a string or a list of parts")
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text", "output_text", "refusal"):
            text = part.get("refusal" if kind == "refusal" else "text")
            if not isinstance(text, str):
                raise ctx.bad(f"a {kind} part needs its text")
            if text:
                parts.append({"text": text})
        elif kind in ("image_url", "input_image") and not text_only:
            parts.append(_image(part, kind, ctx))
        else:
            where = "system or developer message" if text_only else "message"
            raise ctx.fail(f"a {kind or 'malformed'} part in a {where}", "no Gemini form")
    return parts


def _image(part: Mapping[str, Any], kind: str, ctx: _Ctx) -> dict[str, Any]:
    url = part.get("image_url")
    if kind == "image_url" and isinstance(url, dict):
        url = url.get("url")
    if kind == "input_image" and url is None and part.get("file_id") is not None:
        raise ctx.fail("an image by file_id", "OpenAI files are not readable by Gemini")
    if not isinstance(url, str):
        raise ctx.bad("an image part needs its url")
    if url.startswith(("https://", "http://")):
        raise ctx.fail(
            "an image by web URL",
            "Gemini reads images inline or from its Files API; pass a data: URL",
        )
    header, comma, data = url.partition(",")
    media = header.removeprefix("data:").removesuffix(";base64").lower()
    if not url.startswith("data:") or not comma or not header.endswith(";base64"):
        raise ctx.fail("an image url that is neither a base64 data: URL nor http(s)", "no form")
    if media not in _IMAGE_TYPES:
        raise ctx.fail(f"a {media} image", "Gemini takes png, jpeg, webp, heic and heif")
    return {"inlineData": {"mimeType": media, "data": data}}


def _function_call(call_id: object, name: object, arguments: object, ctx: _Ctx) -> dict[str, Any]:
    if not isinstance(call_id, str) or not isinstance(name, str) or not name:
        raise ctx.bad("a tool call needs a string id and name")
    try:
        args = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError as exc:
        raise ctx.bad(f"tool call {call_id!r} arguments are not JSON ({exc})") from None
    if not isinstance(args, dict):
        raise ctx.fail(f"tool call {call_id!r} arguments", "Gemini function args are an object")
    ctx.call_names[call_id] = name
    return {"functionCall": {"name": name, "args": args}}


def _function_response(call_id: object, content: object, ctx: _Ctx) -> dict[str, Any]:
    if not isinstance(call_id, str) or not call_id:
        raise ctx.bad("a tool result needs its tool_call_id")
    name = ctx.call_names.get(call_id)
    if name is None:
        raise ctx.bad(f"tool result {call_id!r} answers no earlier tool call")
    if isinstance(content, str):
        output = content
    else:
        output = "\n".join(p["text"] for p in _parts(content, ctx, text_only=True))
    return {"functionResponse": {"name": name, "response": {"output": output}}}


class _Turns:
    """The system parts and the merged turns, as they are read."""

    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx
        self.system_parts: list[dict[str, Any]] = []
        self.turns: list[dict[str, Any]] = []

    def system(self, parts: list[dict[str, Any]], role: str) -> None:
        if self.turns and parts:
            raise self.ctx.fail(
                f"a {role} message after the first turn",
                "Gemini's systemInstruction comes before the whole conversation",
            )
        self.system_parts.extend(parts)

    def add(self, role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if self.turns and self.turns[-1]["role"] == role:
            self.turns[-1]["parts"].extend(parts)
        else:
            self.turns.append({"role": role, "parts": parts})

    def finish(self, params: dict[str, Any]) -> None:
        ctx = self.ctx
        if not self.turns:
            raise ctx.bad("the conversation has no user content")
        if self.turns[0]["role"] != "user":
            raise ctx.fail("a conversation that starts with an assistant turn",
                           "it must start with a user turn")  # fmt: skip
        if self.turns[-1]["role"] == "model":
            raise ctx.fail(
                "a conversation that ends with an assistant turn",
                "Gemini documents no continuation of a final model turn",
            )
        if ctx.call_names and params["model"].startswith(_SIGNED_CALLS):
            raise ctx.fail(
                f"a replayed function call for {params['model']}",
                "Gemini 3 models check a thought signature on each function call of the "
                "history, which an OpenAI conversation does not carry",
            )
        params["contents"] = self.turns
        if self.system_parts:
            params["systemInstruction"] = {"parts": self.system_parts}


def _finish(
    params: dict[str, Any],
    body: Mapping[str, Any],
    turns: _Turns,
    config: dict[str, Any],
    chat: bool,
    ctx: _Ctx,
) -> dict[str, Any]:
    turns.finish(params)
    params.update(_tools(body, chat, ctx))
    if config:
        params["generationConfig"] = config
    return params


# -- chat completions ---------------------------------------------------------------

_CHAT_HANDLED = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
    "seed", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "tools",
    "tool_choice", "parallel_tool_calls", "response_format",
})  # fmt: skip


def _from_chat(
    body: Mapping[str, Any], models: Mapping[str, str], default: int | None, ctx: _Ctx
) -> dict[str, Any]:
    _check_keys(body, _CHAT_HANDLED, _CHAT_NEUTRAL, ctx)
    params: dict[str, Any] = {"model": _model(body.get("model"), models, ctx)}
    config = _generation(body, ("max_completion_tokens", "max_tokens"), default, True, ctx)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ctx.bad("messages must be a non-empty list")
    turns = _Turns(ctx)
    for message in messages:
        _chat_message(message, turns, ctx)
    config.update(_output_format(body.get("response_format"), "response_format", ctx))
    return _finish(params, body, turns, config, True, ctx)


def _chat_message(message: object, turns: _Turns, ctx: _Ctx) -> None:
    if not isinstance(message, dict):
        raise ctx.bad("each message must be an object")
    role = message.get("role")
    if message.get("name") is not None:
        raise ctx.fail("a message name", "Gemini contents carry no names")
    content = message.get("content")
    if role in ("system", "developer"):
        turns.system(_parts(content, ctx, text_only=True), role)
    elif role == "user":
        turns.add("user", _parts(content, ctx))
    elif role == "assistant":
        if message.get("audio") is not None or message.get("function_call") is not None:
            raise ctx.fail("an assistant audio or function_call", "no Gemini form")
        parts = _parts(content, ctx)
        for call in message.get("tool_calls") or ():
            if call.get("type", "function") != "function":
                raise ctx.fail(f"a {call.get('type')} tool call", "only function calls")
            fn = call["function"]
            parts.append(_function_call(call["id"], fn["name"], fn.get("arguments"), ctx))
        turns.add("model", parts)
    elif role == "tool":
        turns.add("user", [_function_response(message.get("tool_call_id"), content, ctx)])
    else:
        raise ctx.fail(f"a {role!r} message", "roles are system, developer, user, assistant, tool")


# -- responses ----------------------------------------------------------------------

_RESPONSES_HANDLED = frozenset({
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools",
    "tool_choice", "parallel_tool_calls", "text",
})  # fmt: skip


def _from_responses(
    body: Mapping[str, Any], models: Mapping[str, str], default: int | None, ctx: _Ctx
) -> dict[str, Any]:
    _check_keys(body, _RESPONSES_HANDLED, _RESPONSES_NEUTRAL, ctx)
    params: dict[str, Any] = {"model": _model(body.get("model"), models, ctx)}
    config = _generation(body, ("max_output_tokens",), default, False, ctx)
    turns = _Turns(ctx)
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise ctx.fail("instructions that are not a string", "no Gemini form")
        turns.system(_parts(instructions, ctx), "instructions")
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise ctx.bad("input must be a string or a list of items")
    for item in items:
        _responses_item(item, turns, ctx)
    text = body.get("text")
    if text is not None:
        if not isinstance(text, dict):
            raise ctx.bad("text must be an object")
        if text.get("verbosity") is not None:
            raise ctx.fail("text.verbosity", "Gemini has no counterpart")
        config.update(_output_format(text.get("format"), "text.format", ctx))
    return _finish(params, body, turns, config, False, ctx)


def _responses_item(item: object, turns: _Turns, ctx: _Ctx) -> None:
    if not isinstance(item, dict):
        raise ctx.bad("each input item must be an object")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        content = item.get("content")
        if role in ("system", "developer"):
            turns.system(_parts(content, ctx, text_only=True), role)
        elif role in ("user", "assistant"):
            turns.add("user" if role == "user" else "model", _parts(content, ctx))
        else:
            raise ctx.fail(f"a {role!r} input message", "no Gemini form")
    elif kind == "function_call":
        part = _function_call(item.get("call_id"), item.get("name"), item.get("arguments"), ctx)
        turns.add("model", [part])
    elif kind == "function_call_output":
        turns.add("user", [_function_response(item.get("call_id"), item.get("output"), ctx)])
    else:
        raise ctx.fail(f"a {kind!r} input item", "only messages and function calls have a form")
