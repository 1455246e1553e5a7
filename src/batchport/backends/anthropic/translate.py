"""Chat completions and responses requests, rewritten as Anthropic Messages requests.

:func:`to_messages` is pure: it reads one :class:`~batchport.requests.Request` and
returns a new one for ``/v1/messages`` whose body is Messages params (the ``params`` of
one Message Batch entry). What it cannot carry over faithfully is an
:class:`~batchport.errors.InputError` naming the request's custom_id and the feature,
with rule ``untranslatable_feature``; a model without a Claude counterpart has rule
``unmapped_model``; a body of the wrong shape has rule ``invalid_request``. No other
exception leaves it.

Translated:

- ``system`` and ``developer`` messages (and Responses ``instructions``) before the first
  turn become ``system``, in order: one string when there is one text, else text blocks.
  One after the first user or assistant turn has no faithful place: an error.
- user and assistant turns, consecutive turns of one role merged into one (as Anthropic
  requires). Text parts become text blocks (empty texts are left out); images become
  image blocks, a ``data:`` URL as a base64 source (jpeg, png, gif, webp), an http(s)
  URL as a url source. ``detail`` is dropped: it sets OpenAI's resolution, not what is
  asked. An assistant's ``refusal`` part is kept as its text.
- assistant ``tool_calls`` (Responses ``function_call`` items) become ``tool_use``
  blocks, ``tool`` messages (``function_call_output`` items) ``tool_result`` blocks.
- ``max_completion_tokens`` / ``max_tokens`` / ``max_output_tokens`` become
  ``max_tokens``; absent, ``default_max_tokens``.
- ``temperature`` (0..1 only: OpenAI's 1..2 has no Anthropic counterpart, so it is an
  error, never clamped) and ``top_p``. Their default, 1, is the same on both sides and
  is left out. Both set to other values is an error: current Claude models take one of
  the two. Claude models from Opus 4.7 on (and Sonnet 5, Fable, Mythos) refuse sampling
  values other than the default, so a request for them that sets one is an error here
  rather than an errored row a day later. The ``anthropic`` SDK no longer types these
  two keys; the API still reads them on models that sample.
- ``stop`` (a string or a list) becomes ``stop_sequences``.
- function tools become ``{name, description, input_schema}`` (``strict`` kept, its
  schema rewritten as for structured outputs); ``tool_choice`` ``auto`` / ``none`` /
  ``required`` / a named function become ``auto`` / ``none`` / ``any`` / ``tool``;
  ``parallel_tool_calls=false`` becomes ``disable_parallel_tool_use``.
- chat ``response_format`` and Responses ``text.format`` of type ``json_schema`` become
  ``output_config.format`` (the schema rewritten by
  :func:`batchport.schema.claude_json_schema`, as the ``anthropic`` SDK rewrites it).
- ``user`` (or ``safety_identifier``) becomes ``metadata.user_id``.

Left out, because they never change the answer: ``store``, ``prompt_cache_key``,
``prompt_cache_retention``, ``service_tier`` ``auto``/``default``, and parameters at
their neutral value (``n=1``, ``logprobs=false``, zero penalties, empty ``logit_bias``,
``modalities=["text"]``, ``parallel_tool_calls=true``, ``truncation="disabled"``...).

Errors (``untranslatable_feature``), each a deliberate choice:

- ``n`` > 1 (one answer per Messages request), ``logprobs`` / ``top_logprobs``,
  ``logit_bias``, non-zero ``frequency_penalty`` / ``presence_penalty``: Anthropic has
  nothing like them.
- ``seed``: no counterpart; dropping it would silently give up the reproducibility asked for.
- ``response_format`` / ``text.format`` ``json_object``: Anthropic has no "any JSON"
  mode; an empty object schema would allow only ``{}``, and a prompt instruction
  changes the prompt. Pass a JSON schema (or a pydantic model to ``parse``) instead.
- ``reasoning_effort`` / ``reasoning``, ``verbosity``: Anthropic's thinking and effort
  settings mean something else and only some models take them.
- audio (``audio``, ``modalities`` with audio, ``input_audio`` parts), file parts,
  ``prediction``, ``web_search_options``, legacy ``functions`` / ``function_call``, and
  every built-in Responses tool (web search, file search, code interpreter...).
- Responses ``previous_response_id``, ``conversation``, ``prompt`` (stored prompts),
  ``background``, ``include``, ``max_tool_calls``, ``truncation="auto"``, item types
  other than messages and function calls, ``file_id`` images.
- non-empty ``metadata`` (Anthropic keeps only ``user_id``), ``service_tier`` other than
  ``auto`` / ``default``, a message ``name``.
- a conversation that starts with an assistant turn, or ends with one (Anthropic reads a
  final assistant turn as the start of its answer, OpenAI as an earlier turn).
- any parameter this module does not know, and every other endpoint (embeddings,
  moderations, completions, images, videos).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from batchport.errors import InputError
from batchport.requests import Endpoint, Request
from batchport.schema import claude_json_schema

__all__ = ["UNMAPPED_MODEL", "UNTRANSLATABLE", "to_messages"]

UNTRANSLATABLE = "untranslatable_feature"
UNMAPPED_MODEL = "unmapped_model"
_INVALID = "invalid_request"

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Models that refuse sampling values other than the default (Anthropic's API parameter
# deprecations: models released after Claude Opus 4.6).
_NO_SAMPLING = ("claude-opus-4-7", "claude-opus-4-8", "claude-opus-5", "claude-sonnet-5",
                "claude-fable", "claude-mythos")  # fmt: skip
_DROPPED = frozenset({"store", "prompt_cache_key", "prompt_cache_retention"})


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
    "top_logprobs": _neutral(0),
}
_CHAT_NEUTRAL: Mapping[str, Callable[[object], bool]] = {
    **_COMMON_NEUTRAL,
    "n": _neutral(1),
    "logprobs": _neutral(False),
    "logit_bias": _empty,
    "frequency_penalty": _neutral(0),
    "presence_penalty": _neutral(0),
    "seed": _absent,
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
    """The request being translated: builds its errors."""

    def __init__(self, custom_id: str) -> None:
        self.custom_id = custom_id

    def fail(self, feature: str, why: str) -> InputError:
        return InputError(
            f"custom_id {self.custom_id!r}: {feature} cannot be translated to an Anthropic "
            f"Messages request: {why}",
            rule=UNTRANSLATABLE,
        )

    def bad(self, what: str) -> InputError:
        return InputError(f"custom_id {self.custom_id!r}: {what}", rule=_INVALID)


def to_messages(
    request: Request, models: Mapping[str, str], *, default_max_tokens: int = 4096
) -> Request:
    """``request`` as an Anthropic Messages request (``POST /v1/messages``).

    Chat completions and responses bodies are translated (see the module docstring for
    every decision); a ``/v1/messages`` request keeps its body and has only its model
    mapped. ``models`` maps OpenAI model names to Claude models; a model starting with
    ``claude-`` needs no entry. ``default_max_tokens`` is the ``max_tokens`` of a request
    that sets none. The custom_id is kept as it is (making it provider-safe is the
    backend's business).

    Raises:
        InputError: rule ``untranslatable_feature`` (a feature, parameter or endpoint
            without a faithful Anthropic form), ``unmapped_model`` (an OpenAI model
            missing from ``models``) or ``invalid_request`` (a malformed body); the
            message names the custom_id and the feature.
    """
    ctx = _Ctx(request.custom_id)
    endpoint = request.endpoint
    body = request.body
    try:
        if endpoint is Endpoint.MESSAGES:
            params = {**body, "model": _model(body.get("model"), models, ctx)}
        elif endpoint is Endpoint.CHAT_COMPLETIONS:
            params = _from_chat(body, models, default_max_tokens, ctx)
        elif endpoint is Endpoint.RESPONSES:
            params = _from_responses(body, models, default_max_tokens, ctx)
        else:
            raise ctx.fail(
                f"a {request.url} request",
                "only chat completions and responses requests have a Messages form",
            )
    except InputError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise ctx.bad(f"malformed {request.url} body ({type(exc).__name__}: {exc})") from exc
    return Request(custom_id=request.custom_id, url=Endpoint.MESSAGES.value, body=params)


# -- parameters ---------------------------------------------------------------------


def _model(value: object, models: Mapping[str, str], ctx: _Ctx) -> str:
    if not isinstance(value, str) or not value:
        raise ctx.bad("model must be a non-empty string")
    mapped = models.get(value)
    if isinstance(mapped, str) and mapped:
        return mapped
    if value.startswith("claude-"):
        return value
    raise InputError(
        f"custom_id {ctx.custom_id!r}: model {value!r} has no Claude model to run on; "
        f'map it, e.g. models={{"{value}": "claude-haiku-4-5"}}',
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
            raise ctx.fail(f"parameter {key!r}", "batchport knows no Anthropic form for it")
        if not check(value):
            raise ctx.fail(f"{key}={_short(value)}", "Anthropic Messages has no counterpart")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _max_tokens(body: Mapping[str, Any], keys: tuple[str, ...], default: int, ctx: _Ctx) -> int:
    given = {key: body[key] for key in keys if body.get(key) is not None}
    if len(set(map(repr, given.values()))) > 1:
        raise ctx.bad(f"{' and '.join(given)} disagree; set one")
    value = next(iter(given.values()), default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ctx.bad(f"max tokens must be a positive integer, got {_short(value)}")
    return value


def _sampling(body: Mapping[str, Any], model: str, params: dict[str, Any], ctx: _Ctx) -> None:
    set_ = {}
    for key, top in (("temperature", 2.0), ("top_p", 1.0)):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= top:
            raise ctx.bad(f"{key} must be a number from 0 to {top:g}, got {_short(value)}")
        if value > 1:
            raise ctx.fail(f"temperature={value}", "Anthropic's temperature ends at 1")
        if value != 1:
            set_[key] = value
    if len(set_) == 2:
        raise ctx.fail("temperature with top_p", "current Claude models take only one of them")
    if set_ and model.startswith(_NO_SAMPLING):
        key = next(iter(set_))
        raise ctx.fail(f"{key}={set_[key]}", f"{model} takes no sampling parameters")
    params.update(set_)


def _stop(value: object, ctx: _Ctx) -> list[str]:
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise ctx.bad("stop must be a string or a list of strings")
    return [s for s in stops if s]


def _user(body: Mapping[str, Any], ctx: _Ctx) -> str | None:
    ids = {body[k] for k in ("user", "safety_identifier") if body.get(k) is not None}
    if len(ids) > 1:
        raise ctx.fail("user with a different safety_identifier", "Anthropic keeps one user_id")
    user = next(iter(ids), None)
    if user is not None and not isinstance(user, str):
        raise ctx.bad("user must be a string")
    return user


def _tool(fn: Mapping[str, Any], ctx: _Ctx) -> dict[str, Any]:
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise ctx.bad("a function tool needs a name")
    schema = fn.get("parameters")
    if schema is None:
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ctx.fail(f"tool {name!r} parameters", "Anthropic tools take an object schema")
    tool: dict[str, Any] = {"name": name}
    if fn.get("description"):
        tool["description"] = fn["description"]
    if fn.get("strict"):
        schema = _schema(schema, f"tool {name!r} parameters", ctx)
        tool["strict"] = True
    tool["input_schema"] = schema
    return tool


def _tools(tools: object, chat: bool, ctx: _Ctx) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise ctx.bad("tools must be a list")
    out = []
    for tool in tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise ctx.fail(f"a {kind or 'malformed'} tool", "only function tools have a form")
        out.append(_tool(tool["function"] if chat else tool, ctx))
    return out


def _tool_choice(choice: object, parallel: object, chat: bool, ctx: _Ctx) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif isinstance(choice, str) and choice in ("auto", "none", "required"):
        out = {"type": {"required": "any"}.get(choice, choice)}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = choice["function"]["name"] if chat else choice["name"]
        out = {"type": "tool", "name": name}
    else:
        raise ctx.fail(f"tool_choice={_short(choice)}", "only auto, none, required or a function")
    if parallel is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    elif parallel not in (None, True):
        raise ctx.bad("parallel_tool_calls must be a boolean")
    return out


def _schema(schema: object, where: str, ctx: _Ctx) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise ctx.bad(f"{where}: a JSON schema object is needed")
    try:
        return claude_json_schema(schema)
    except ValueError as exc:
        raise ctx.fail(where, str(exc)) from exc


def _output_format(fmt: object, where: str, ctx: _Ctx) -> dict[str, Any] | None:
    """``response_format`` (chat, its schema under ``json_schema``) or ``text.format``."""
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind != "json_schema":
        raise ctx.fail(
            f"{where} {kind or _short(fmt)}",
            "Anthropic constrains output only to a JSON schema; pass one (or a pydantic "
            "model to parse)",
        )
    assert isinstance(fmt, dict)
    spec = fmt.get("json_schema", fmt)
    return {"type": "json_schema", "schema": _schema(spec.get("schema"), where, ctx)}


def _finish(
    params: dict[str, Any],
    body: Mapping[str, Any],
    turns: _Turns,
    fmt: dict[str, Any] | None,
    chat: bool,
    ctx: _Ctx,
) -> dict[str, Any]:
    system, messages = turns.finish()
    params["messages"] = messages
    if system is not None:
        params["system"] = system
    _sampling(body, params["model"], params, ctx)
    if chat and body.get("stop") is not None and (stops := _stop(body["stop"], ctx)):
        params["stop_sequences"] = stops
    if body.get("tools"):
        params["tools"] = _tools(body["tools"], chat, ctx)
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), chat, ctx)
        if choice is not None:
            params["tool_choice"] = choice
    elif body.get("tool_choice") not in (None, "none", "auto"):
        raise ctx.bad("tool_choice is set but there are no tools")
    if fmt is not None:
        params["output_config"] = {"format": fmt}
    if (user := _user(body, ctx)) is not None:
        params["metadata"] = {"user_id": user}
    return params


# -- chat completions ---------------------------------------------------------------

_CHAT_HANDLED = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
    "tools", "tool_choice", "parallel_tool_calls", "response_format", "user", "safety_identifier",
})  # fmt: skip


def _from_chat(
    body: Mapping[str, Any], models: Mapping[str, str], default: int, ctx: _Ctx
) -> dict[str, Any]:
    _check_keys(body, _CHAT_HANDLED, _CHAT_NEUTRAL, ctx)
    params: dict[str, Any] = {
        "model": _model(body.get("model"), models, ctx),
        "max_tokens": _max_tokens(body, ("max_completion_tokens", "max_tokens"), default, ctx),
    }
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ctx.bad("messages must be a non-empty list")
    turns = _Turns(ctx)
    for message in messages:
        _chat_message(message, turns, ctx)
    fmt = _output_format(body.get("response_format"), "response_format", ctx)
    return _finish(params, body, turns, fmt, True, ctx)


def _chat_message(message: object, turns: _Turns, ctx: _Ctx) -> None:
    if not isinstance(message, dict):
        raise ctx.bad("each message must be an object")
    role = message.get("role")
    if message.get("name") is not None:
        raise ctx.fail("a message name", "Anthropic messages carry no names")
    content = message.get("content")
    if role in ("system", "developer"):
        turns.system(_blocks(content, ctx, text_only=True), role)
    elif role == "user":
        turns.add("user", _blocks(content, ctx))
    elif role == "assistant":
        if message.get("audio") is not None or message.get("function_call") is not None:
            raise ctx.fail("an assistant audio or function_call", "no Anthropic form")
        blocks = _blocks(content, ctx)
        for call in message.get("tool_calls") or ():
            if call.get("type", "function") != "function":
                raise ctx.fail(f"a {call.get('type')} tool call", "only function calls")
            fn = call["function"]
            blocks.append(_tool_use(call["id"], fn["name"], fn.get("arguments"), ctx))
        turns.add("assistant", blocks)
    elif role == "tool":
        turns.add("user", [_tool_result(message.get("tool_call_id"), content, ctx)])
    else:
        raise ctx.fail(f"a {role!r} message", "roles are system, developer, user, assistant, tool")


# -- content ------------------------------------------------------------------------


def _blocks(content: object, ctx: _Ctx, *, text_only: bool = False) -> list[dict[str, Any]]:
    """Text and image parts (chat or Responses spelling) as Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise ctx.bad("message content must be a string or a list of parts")
    blocks = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text", "output_text", "refusal"):
            text = part.get("refusal" if kind == "refusal" else "text")
            if not isinstance(text, str):
                raise ctx.bad(f"a {kind} part needs its text")
            if text:
                blocks.append({"type": "text", "text": text})
        elif kind in ("image_url", "input_image") and not text_only:
            blocks.append(_image(part, kind, ctx))
        else:
            where = "system or developer message" if text_only else "message"
            raise ctx.fail(f"a {kind or 'malformed'} part in a {where}", "no Anthropic form")
    return blocks


def _image(part: Mapping[str, Any], kind: str, ctx: _Ctx) -> dict[str, Any]:
    url = part.get("image_url")
    if kind == "image_url" and isinstance(url, dict):
        url = url.get("url")
    if kind == "input_image" and url is None and part.get("file_id") is not None:
        raise ctx.fail("an image by file_id", "OpenAI files are not readable by Anthropic")
    if not isinstance(url, str):
        raise ctx.bad("an image part needs its url")
    if url.startswith("data:"):
        header, comma, data = url.partition(",")
        media = header.removeprefix("data:").removesuffix(";base64").lower()
        if not comma or not header.endswith(";base64") or media not in _IMAGE_TYPES:
            raise ctx.fail(f"an image data URL ({header[:40]})", "only base64 jpeg/png/gif/webp")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ctx.fail("an image url that is neither data: nor http(s)", "no Anthropic form")


def _tool_use(call_id: object, name: object, arguments: object, ctx: _Ctx) -> dict[str, Any]:
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise ctx.bad("a tool call needs a string id and name")
    try:
        args = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError as exc:
        raise ctx.bad(f"tool call {call_id!r} arguments are not JSON ({exc})") from None
    if not isinstance(args, dict):
        raise ctx.fail(f"tool call {call_id!r} arguments", "Anthropic tool input is an object")
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


def _tool_result(call_id: object, content: object, ctx: _Ctx) -> dict[str, Any]:
    if not isinstance(call_id, str) or not call_id:
        raise ctx.bad("a tool result needs its tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif (parts := _blocks(content, ctx, text_only=True)) or content is not None:
        block["content"] = parts
    return block


class _Turns:
    """The system text and the alternating turns, as they are read."""

    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx
        self.texts: list[dict[str, Any]] = []
        self.turns: list[dict[str, Any]] = []

    def system(self, blocks: list[dict[str, Any]], role: str) -> None:
        if self.turns and blocks:
            raise self.ctx.fail(
                f"a {role} message after the first turn",
                "Anthropic's system prompt comes before the whole conversation",
            )
        self.texts.extend(blocks)

    def add(self, role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if self.turns and self.turns[-1]["role"] == role:
            self.turns[-1]["content"].extend(blocks)
        else:
            self.turns.append({"role": role, "content": blocks})

    def finish(self) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
        if not self.turns:
            raise self.ctx.bad("the conversation has no user content")
        if self.turns[0]["role"] != "user":
            raise self.ctx.fail("a conversation that starts with an assistant turn", "it must "
                                "start with a user turn")  # fmt: skip
        if self.turns[-1]["role"] == "assistant":
            raise self.ctx.fail(
                "a conversation that ends with an assistant turn",
                "Anthropic would continue that turn instead of answering after it",
            )
        for turn in self.turns:  # plain text turns as strings, as people write them
            content = turn["content"]
            if len(content) == 1 and content[0]["type"] == "text":
                turn["content"] = content[0]["text"]
        if not self.texts:
            return None, self.turns
        if len(self.texts) == 1:
            return self.texts[0]["text"], self.turns
        return self.texts, self.turns


# -- responses ----------------------------------------------------------------------

_RESPONSES_HANDLED = frozenset({
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools",
    "tool_choice", "parallel_tool_calls", "text", "user", "safety_identifier",
})  # fmt: skip


def _from_responses(
    body: Mapping[str, Any], models: Mapping[str, str], default: int, ctx: _Ctx
) -> dict[str, Any]:
    _check_keys(body, _RESPONSES_HANDLED, _RESPONSES_NEUTRAL, ctx)
    params: dict[str, Any] = {
        "model": _model(body.get("model"), models, ctx),
        "max_tokens": _max_tokens(body, ("max_output_tokens",), default, ctx),
    }
    turns = _Turns(ctx)
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise ctx.fail("instructions that are not a string", "no Anthropic form")
        turns.system(_blocks(instructions, ctx), "instructions")
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise ctx.bad("input must be a string or a list of items")
    for item in items:
        _responses_item(item, turns, ctx)
    text = body.get("text")
    fmt = None
    if text is not None:
        if not isinstance(text, dict):
            raise ctx.bad("text must be an object")
        if text.get("verbosity") is not None:
            raise ctx.fail("text.verbosity", "Anthropic Messages has no counterpart")
        fmt = _output_format(text.get("format"), "text.format", ctx)
    return _finish(params, body, turns, fmt, False, ctx)


def _responses_item(item: object, turns: _Turns, ctx: _Ctx) -> None:
    if not isinstance(item, dict):
        raise ctx.bad("each input item must be an object")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        content = item.get("content")
        if role in ("system", "developer"):
            turns.system(_blocks(content, ctx, text_only=True), role)
        elif role in ("user", "assistant"):
            turns.add(role, _blocks(content, ctx))
        else:
            raise ctx.fail(f"a {role!r} input message", "no Anthropic form")
    elif kind == "function_call":
        block = _tool_use(item.get("call_id"), item.get("name"), item.get("arguments"), ctx)
        turns.add("assistant", [block])
    elif kind == "function_call_output":
        output = item.get("output")
        turns.add("user", [_tool_result(item.get("call_id"), output, ctx)])
    else:
        raise ctx.fail(f"a {kind!r} input item", "only messages and function calls have a form")
