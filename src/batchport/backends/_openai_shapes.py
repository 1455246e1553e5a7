"""A provider-neutral reading of OpenAI chat completions and responses bodies.

The translators to other providers (:mod:`batchport.backends.anthropic.translate`,
:mod:`batchport.backends.gemini.translate`) read a body with these functions and render
what they read in their provider's wire form. What is read here is what every provider
reads the same way: the model with its mapping, the conversation (system texts before the
first turn, turns of one role merged, text and image parts, tool calls and results), the
max-tokens keys, the sampling numbers, stop sequences, function tools, ``tool_choice`` and
the requested output format. What a provider refuses, and why, stays in its module.

Every function raises :class:`~batchport.errors.InputError` only, worded through the
:class:`Target` it is given; :func:`translate` turns the ``TypeError`` / ``KeyError``... of
a malformed body into one too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from batchport.errors import InputError
from batchport.requests import Endpoint, Request

UNTRANSLATABLE = "untranslatable_feature"
UNMAPPED_MODEL = "unmapped_model"
INVALID = "invalid_request"

Neutral = Mapping[str, Callable[[object], bool]]


@dataclass(frozen=True, slots=True)
class Target:
    """The provider a request is translated for, in the words its errors use."""

    name: str  # "no Anthropic form"
    request: str  # "cannot be translated to an Anthropic Messages request"
    form: str  # "only chat completions and responses requests have a Messages form"
    no_counterpart: str  # why a parameter set away from its neutral value is refused
    no_names: str  # why a chat message ``name`` is refused
    system_place: str  # "Anthropic's system prompt" (comes before the whole conversation)
    final_turn: str  # why a conversation ending with an assistant turn is refused
    call_args: str  # why tool call arguments other than an object are refused
    family: str  # "Claude": "has no Claude model to run on"
    prefix: str  # a model name starting with it needs no mapping
    example: str  # the model the unmapped-model hint suggests
    namespace: str = ""  # a prefix model names may carry, taken off ("models/")


@dataclass(frozen=True, slots=True)
class Ctx:
    """The request being translated: builds its errors."""

    custom_id: str
    target: Target

    def fail(self, feature: str, why: str) -> InputError:
        return InputError(
            f"custom_id {self.custom_id!r}: {feature} cannot be translated to "
            f"{self.target.request}: {why}",
            rule=UNTRANSLATABLE,
        )

    def bad(self, what: str) -> InputError:
        return InputError(f"custom_id {self.custom_id!r}: {what}", rule=INVALID)

    @property
    def no_form(self) -> str:
        return f"no {self.target.name} form"


def translate(
    request: Request,
    target: Target,
    own: Endpoint,
    models: Mapping[str, str],
    convert: Callable[[Mapping[str, Any], bool, Ctx], dict[str, Any]],
) -> Request:
    """``request`` for the provider's endpoint ``own``: a chat (``convert(body, True,
    ctx)``) or responses (``convert(body, False, ctx)``) body converted, an ``own`` body
    kept with its model mapped, any other endpoint refused."""
    ctx = Ctx(request.custom_id, target)
    endpoint = request.endpoint
    body = request.body
    try:
        if endpoint is own:
            params = {**body, "model": map_model(body.get("model"), models, ctx)}
        elif endpoint in (Endpoint.CHAT_COMPLETIONS, Endpoint.RESPONSES):
            params = convert(body, endpoint is Endpoint.CHAT_COMPLETIONS, ctx)
        else:
            raise ctx.fail(
                f"a {request.url} request",
                f"only chat completions and responses requests have a {target.form} form",
            )
    except InputError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise ctx.bad(f"malformed {request.url} body ({type(exc).__name__}: {exc})") from exc
    return Request(custom_id=request.custom_id, url=own.value, body=params)


# -- parameters ---------------------------------------------------------------------


def absent(value: object) -> bool:
    return value is None


def neutral(*values: object) -> Callable[[object], bool]:
    return lambda value: value is None or value in values


def empty(value: object) -> bool:
    return value is None or value == {} or value == []


# parameter -> "its value here changes nothing" (for every provider); each module adds its own
DROPPED = frozenset({"store", "prompt_cache_key", "prompt_cache_retention"})
COMMON_NEUTRAL: Neutral = {
    "stream": neutral(False),
    "stream_options": absent,
    "service_tier": neutral("auto", "default"),
    "metadata": empty,
}
CHAT_NEUTRAL: Neutral = {
    **COMMON_NEUTRAL,
    "n": neutral(1),
    "logit_bias": empty,
    "audio": absent,
    "modalities": lambda v: v is None or v == ["text"],
    "prediction": absent,
    "web_search_options": absent,
    "functions": absent,
    "function_call": absent,
    "reasoning_effort": absent,
    "verbosity": absent,
}
RESPONSES_NEUTRAL: Neutral = {
    **COMMON_NEUTRAL,
    "top_logprobs": neutral(0),
    "previous_response_id": absent,
    "conversation": absent,
    "prompt": absent,
    "background": neutral(False),
    "include": empty,
    "max_tool_calls": absent,
    "reasoning": empty,
    "truncation": neutral("disabled"),
}


def check_keys(
    body: Mapping[str, Any],
    handled: frozenset[str],
    dropped: frozenset[str],
    neutral: Neutral,
    ctx: Ctx,
    why: Mapping[str, str] | None = None,
) -> None:
    """Refuse a key that is neither handled, dropped nor at its neutral value; ``why``
    words the refusal of some keys better than :attr:`Target.no_counterpart`."""
    for key, value in body.items():
        if key in handled or key in dropped:
            continue
        check = neutral.get(key)
        if check is None:
            raise ctx.fail(
                f"parameter {key!r}", f"batchport knows no {ctx.target.name} form for it"
            )
        if not check(value):
            reason = (why or {}).get(key, ctx.target.no_counterpart)
            raise ctx.fail(f"{key}={short(value)}", reason)


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def map_model(value: object, models: Mapping[str, str], ctx: Ctx) -> str:
    """The provider's model for ``value``: mapped by ``models``, or kept when it is one."""
    if not isinstance(value, str) or not value:
        raise ctx.bad("model must be a non-empty string")
    target = ctx.target
    mapped = models.get(value)
    if isinstance(mapped, str) and mapped:
        return mapped.removeprefix(target.namespace)
    bare = value.removeprefix(target.namespace)
    if bare.startswith(target.prefix):
        return bare
    raise InputError(
        f"custom_id {ctx.custom_id!r}: model {value!r} has no {target.family} model to run "
        f'on; map it, e.g. models={{"{value}": "{target.example}"}}',
        rule=UNMAPPED_MODEL,
    )


def max_tokens(body: Mapping[str, Any], chat: bool, ctx: Ctx) -> object:
    """The max-tokens value the body sets (None when it sets none), not yet checked."""
    keys = ("max_completion_tokens", "max_tokens") if chat else ("max_output_tokens",)
    given = {key: body[key] for key in keys if body.get(key) is not None}
    if len(set(map(repr, given.values()))) > 1:
        raise ctx.bad(f"{' and '.join(given)} disagree; set one")
    return next(iter(given.values()), None)


def number(body: Mapping[str, Any], key: str, low: float, high: float, ctx: Ctx) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise ctx.bad(f"{key} must be a number from {low:g} to {high:g}, got {short(value)}")
    return value


def stop_sequences(body: Mapping[str, Any], ctx: Ctx) -> list[str]:
    """``stop`` (a string or a list) without its empty strings."""
    value = body.get("stop")
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise ctx.bad("stop must be a string or a list of strings")
    return [s for s in stops if s]


# -- tools and output format --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionTool:
    name: str
    description: object  # None when absent or empty
    parameters: object  # the JSON schema as given, None when absent
    strict: bool


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: str  # "auto", "none", "required" or "function"
    name: object = None  # the function's name for mode "function", as given


@dataclass(frozen=True, slots=True)
class Tools:
    functions: tuple[FunctionTool, ...]
    choice: ToolChoice | None


def read_tools(body: Mapping[str, Any], chat: bool, ctx: Ctx) -> Tools | None:
    """``tools`` and ``tool_choice``; None without tools. ``parallel_tool_calls`` is the
    provider's business."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not tools:
        if choice not in (None, "none", "auto"):
            raise ctx.bad("tool_choice is set but there are no tools")
        return None
    if not isinstance(tools, list):
        raise ctx.bad("tools must be a list")
    functions = []
    for tool in tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise ctx.fail(f"a {kind or 'malformed'} tool", "only function tools have a form")
        fn = tool["function"] if chat else tool
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise ctx.bad("a function tool needs a name")
        description = fn.get("description") or None
        strict = bool(fn.get("strict"))
        functions.append(FunctionTool(name, description, fn.get("parameters"), strict))
    return Tools(tuple(functions), _tool_choice(choice, chat, ctx))


def _tool_choice(choice: object, chat: bool, ctx: Ctx) -> ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in ("auto", "none", "required"):
        return ToolChoice(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        return ToolChoice("function", choice["function"]["name"] if chat else choice["name"])
    raise ctx.fail(f"tool_choice={short(choice)}", "only auto, none, required or a function")


@dataclass(frozen=True, slots=True)
class OutputFormat:
    where: str  # "response_format" or "text.format"
    schema: dict[str, Any] | None  # the JSON schema as given; None for any JSON object


def output_format(
    body: Mapping[str, Any], chat: bool, ctx: Ctx, *, json_object: bool, why: str
) -> OutputFormat | None:
    """Chat ``response_format`` (its schema under ``json_schema``) or Responses
    ``text.format``; None for free text. ``json_object`` is refused with ``why`` unless
    the provider takes it, like any other type than text and json_schema."""
    if chat:
        fmt, where = body.get("response_format"), "response_format"
    else:
        text = body.get("text")
        if text is None:
            return None
        if not isinstance(text, dict):
            raise ctx.bad("text must be an object")
        if text.get("verbosity") is not None:
            raise ctx.fail("text.verbosity", ctx.target.no_counterpart)
        fmt, where = text.get("format"), "text.format"
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object" and json_object:
        return OutputFormat(where, None)
    if kind != "json_schema":
        raise ctx.fail(f"{where} {kind or short(fmt)}", why)
    assert isinstance(fmt, dict)
    spec = fmt.get("json_schema", fmt)
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise ctx.bad(f"{where}: a JSON schema object is needed")
    return OutputFormat(where, schema)


# -- the conversation ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    text: str  # never empty


@dataclass(frozen=True, slots=True)
class Image:
    url: str  # a data: URL or a web address, as given


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    content: str | tuple[Text, ...] | None  # a string, text parts, or nothing, as given


Part = Text | Image | ToolCall | ToolResult
Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    parts: tuple[Part, ...]  # never empty


@dataclass(frozen=True, slots=True)
class Conversation:
    system: tuple[str, ...]  # system, developer and instructions texts, in order
    turns: tuple[Turn, ...]  # roles alternate; see check_turns

    @property
    def has_calls(self) -> bool:
        return any(isinstance(p, ToolCall) for turn in self.turns for p in turn.parts)


class _Turns:
    """The system texts and the merged turns, as they are read."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.texts: list[str] = []
        self.turns: list[tuple[Role, list[Part]]] = []

    def system(self, parts: list[Part], role: str) -> None:
        if self.turns and parts:
            raise self.ctx.fail(
                f"a {role} message after the first turn",
                f"{self.ctx.target.system_place} comes before the whole conversation",
            )
        self.texts.extend(p.text for p in parts if isinstance(p, Text))

    def add(self, role: Role, parts: list[Part]) -> None:
        if not parts:
            return
        if self.turns and self.turns[-1][0] == role:
            self.turns[-1][1].extend(parts)
        else:
            self.turns.append((role, parts))

    def done(self) -> Conversation:
        turns = tuple(Turn(role, tuple(parts)) for role, parts in self.turns)
        return Conversation(tuple(self.texts), turns)


def read_conversation(body: Mapping[str, Any], chat: bool, ctx: Ctx) -> Conversation:
    """Chat ``messages``, or Responses ``instructions`` and ``input``."""
    turns = _Turns(ctx)
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ctx.bad("messages must be a non-empty list")
        for message in messages:
            _chat_message(message, turns, ctx)
        return turns.done()
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise ctx.fail("instructions that are not a string", ctx.no_form)
        turns.system(_parts(instructions, ctx), "instructions")
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise ctx.bad("input must be a string or a list of items")
    for item in items:
        _responses_item(item, turns, ctx)
    return turns.done()


def check_turns(conversation: Conversation, ctx: Ctx) -> None:
    """A conversation must start with a user turn and end with one."""
    turns = conversation.turns
    if not turns:
        raise ctx.bad("the conversation has no user content")
    if turns[0].role != "user":
        raise ctx.fail(
            "a conversation that starts with an assistant turn", "it must start with a user turn"
        )
    if turns[-1].role == "assistant":
        raise ctx.fail("a conversation that ends with an assistant turn", ctx.target.final_turn)


def _chat_message(message: object, turns: _Turns, ctx: Ctx) -> None:
    if not isinstance(message, dict):
        raise ctx.bad("each message must be an object")
    role = message.get("role")
    if message.get("name") is not None:
        raise ctx.fail("a message name", ctx.target.no_names)
    content = message.get("content")
    if role in ("system", "developer"):
        turns.system(_parts(content, ctx, text_only=True), role)
    elif role == "user":
        turns.add("user", _parts(content, ctx))
    elif role == "assistant":
        if message.get("audio") is not None or message.get("function_call") is not None:
            raise ctx.fail("an assistant audio or function_call", ctx.no_form)
        parts = _parts(content, ctx)
        for call in message.get("tool_calls") or ():
            if call.get("type", "function") != "function":
                raise ctx.fail(f"a {call.get('type')} tool call", "only function calls")
            fn = call["function"]
            parts.append(_tool_call(call["id"], fn["name"], fn.get("arguments"), ctx))
        turns.add("assistant", parts)
    elif role == "tool":
        turns.add("user", [_tool_result(message.get("tool_call_id"), content, ctx)])
    else:
        raise ctx.fail(f"a {role!r} message", "roles are system, developer, user, assistant, tool")


def _responses_item(item: object, turns: _Turns, ctx: Ctx) -> None:
    if not isinstance(item, dict):
        raise ctx.bad("each input item must be an object")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        content = item.get("content")
        if role in ("system", "developer"):
            turns.system(_parts(content, ctx, text_only=True), role)
        elif role == "user" or role == "assistant":
            turns.add(role, _parts(content, ctx))
        else:
            raise ctx.fail(f"a {role!r} input message", ctx.no_form)
    elif kind == "function_call":
        call = _tool_call(item.get("call_id"), item.get("name"), item.get("arguments"), ctx)
        turns.add("assistant", [call])
    elif kind == "function_call_output":
        turns.add("user", [_tool_result(item.get("call_id"), item.get("output"), ctx)])
    else:
        raise ctx.fail(f"a {kind!r} input item", "only messages and function calls have a form")


def _parts(content: object, ctx: Ctx, *, text_only: bool = False) -> list[Part]:
    """Text and image parts, in chat or Responses spelling; empty texts left out."""
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)] if content else []
    if not isinstance(content, list):
        raise ctx.bad("message content must be a string or a list of parts")
    parts: list[Part] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text", "output_text", "refusal"):
            text = part.get("refusal" if kind == "refusal" else "text")
            if not isinstance(text, str):
                raise ctx.bad(f"a {kind} part needs its text")
            if text:
                parts.append(Text(text))
        elif kind in ("image_url", "input_image") and not text_only:
            parts.append(_image(part, kind, ctx))
        else:
            where = "system or developer message" if text_only else "message"
            raise ctx.fail(f"a {kind or 'malformed'} part in a {where}", ctx.no_form)
    return parts


def _image(part: Mapping[str, Any], kind: str, ctx: Ctx) -> Image:
    url = part.get("image_url")
    if kind == "image_url" and isinstance(url, dict):
        url = url.get("url")
    if kind == "input_image" and url is None and part.get("file_id") is not None:
        raise ctx.fail("an image by file_id", f"OpenAI files are not readable by {ctx.target.name}")
    if not isinstance(url, str):
        raise ctx.bad("an image part needs its url")
    return Image(url)


def _tool_call(call_id: object, name: object, arguments: object, ctx: Ctx) -> ToolCall:
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise ctx.bad("a tool call needs a string id and name")
    try:
        args = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError as exc:
        raise ctx.bad(f"tool call {call_id!r} arguments are not JSON ({exc})") from None
    if not isinstance(args, dict):
        raise ctx.fail(f"tool call {call_id!r} arguments", ctx.target.call_args)
    return ToolCall(call_id, name, args)


def _tool_result(call_id: object, content: object, ctx: Ctx) -> ToolResult:
    if not isinstance(call_id, str) or not call_id:
        raise ctx.bad("a tool result needs its tool_call_id")
    if isinstance(content, str) or content is None:
        return ToolResult(call_id, content)
    texts = _parts(content, ctx, text_only=True)
    return ToolResult(call_id, tuple(p for p in texts if isinstance(p, Text)))
