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

from collections.abc import Mapping
from typing import Any

from batchport.backends import _openai_shapes as oa
from batchport.backends._openai_shapes import UNMAPPED_MODEL, UNTRANSLATABLE
from batchport.requests import Endpoint, Request
from batchport.schema import claude_json_schema

__all__ = ["UNMAPPED_MODEL", "UNTRANSLATABLE", "to_messages"]

_TARGET = oa.Target(
    name="Anthropic",
    request="an Anthropic Messages request",
    form="Messages",
    no_counterpart="Anthropic Messages has no counterpart",
    no_names="Anthropic messages carry no names",
    system_place="Anthropic's system prompt",
    final_turn="Anthropic would continue that turn instead of answering after it",
    call_args="Anthropic tool input is an object",
    family="Claude",
    prefix="claude-",
    example="claude-haiku-4-5",
)
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Models that refuse sampling values other than the default (Anthropic's API parameter
# deprecations: models released after Claude Opus 4.6).
_NO_SAMPLING = ("claude-opus-4-7", "claude-opus-4-8", "claude-opus-5", "claude-sonnet-5",
                "claude-fable", "claude-mythos")  # fmt: skip
_SCHEMA_ONLY = (
    "Anthropic constrains output only to a JSON schema; pass one (or a pydantic model to parse)"
)

_CHAT_NEUTRAL: oa.Neutral = {
    **oa.CHAT_NEUTRAL,
    "top_logprobs": oa.neutral(0),
    "logprobs": oa.neutral(False),
    "frequency_penalty": oa.neutral(0),
    "presence_penalty": oa.neutral(0),
    "seed": oa.absent,
}
_CHAT_HANDLED = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
    "tools", "tool_choice", "parallel_tool_calls", "response_format", "user", "safety_identifier",
})  # fmt: skip
_RESPONSES_HANDLED = frozenset({
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools",
    "tool_choice", "parallel_tool_calls", "text", "user", "safety_identifier",
})  # fmt: skip


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

    def convert(body: Mapping[str, Any], chat: bool, ctx: oa.Ctx) -> dict[str, Any]:
        return _params(body, chat, models, default_max_tokens, ctx)

    return oa.translate(request, _TARGET, Endpoint.MESSAGES, models, convert)


def _params(
    body: Mapping[str, Any], chat: bool, models: Mapping[str, str], default: int, ctx: oa.Ctx
) -> dict[str, Any]:
    if chat:
        oa.check_keys(body, _CHAT_HANDLED, oa.DROPPED, _CHAT_NEUTRAL, ctx)
    else:
        oa.check_keys(body, _RESPONSES_HANDLED, oa.DROPPED, oa.RESPONSES_NEUTRAL, ctx)
    params: dict[str, Any] = {
        "model": oa.map_model(body.get("model"), models, ctx),
        "max_tokens": _max_tokens(body, chat, default, ctx),
    }
    conversation = oa.read_conversation(body, chat, ctx)
    messages = [_message(turn, ctx) for turn in conversation.turns]
    output = _output_config(body, chat, ctx)
    oa.check_turns(conversation, ctx)
    params["messages"] = messages
    if len(conversation.system) == 1:
        params["system"] = conversation.system[0]
    elif conversation.system:
        params["system"] = [{"type": "text", "text": text} for text in conversation.system]
    _sampling(body, params["model"], params, ctx)
    if stops := oa.stop_sequences(body, ctx):
        params["stop_sequences"] = stops
    if (tools := oa.read_tools(body, chat, ctx)) is not None:
        params["tools"] = [_tool(fn, ctx) for fn in tools.functions]
        choice = _tool_choice(tools.choice, body.get("parallel_tool_calls"), ctx)
        if choice is not None:
            params["tool_choice"] = choice
    if output is not None:
        params["output_config"] = output
    if (user := _user(body, ctx)) is not None:
        params["metadata"] = {"user_id": user}
    return params


# -- parameters ---------------------------------------------------------------------


def _max_tokens(body: Mapping[str, Any], chat: bool, default: int, ctx: oa.Ctx) -> int:
    value = oa.max_tokens(body, chat, ctx)
    value = default if value is None else value
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ctx.bad(f"max tokens must be a positive integer, got {oa.short(value)}")
    return value


def _sampling(body: Mapping[str, Any], model: str, params: dict[str, Any], ctx: oa.Ctx) -> None:
    set_ = {}
    for key, top in (("temperature", 2.0), ("top_p", 1.0)):
        value = oa.number(body, key, 0, top, ctx)
        if value is None:
            continue
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


def _user(body: Mapping[str, Any], ctx: oa.Ctx) -> str | None:
    ids = {body[k] for k in ("user", "safety_identifier") if body.get(k) is not None}
    if len(ids) > 1:
        raise ctx.fail("user with a different safety_identifier", "Anthropic keeps one user_id")
    user = next(iter(ids), None)
    if user is not None and not isinstance(user, str):
        raise ctx.bad("user must be a string")
    return user


def _tool(fn: oa.FunctionTool, ctx: oa.Ctx) -> dict[str, Any]:
    schema = fn.parameters
    if schema is None:
        schema = {"type": "object", "properties": {}}
    where = f"tool {fn.name!r} parameters"
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ctx.fail(where, "Anthropic tools take an object schema")
    tool: dict[str, Any] = {"name": fn.name}
    if fn.description is not None:
        tool["description"] = fn.description
    if fn.strict:
        schema = _schema(schema, where, ctx)
        tool["strict"] = True
    tool["input_schema"] = schema
    return tool


def _tool_choice(
    choice: oa.ToolChoice | None, parallel: object, ctx: oa.Ctx
) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif choice.mode == "function":
        out = {"type": "tool", "name": choice.name}
    else:
        out = {"type": {"required": "any"}.get(choice.mode, choice.mode)}
    if parallel is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    elif parallel not in (None, True):
        raise ctx.bad("parallel_tool_calls must be a boolean")
    return out


def _output_config(body: Mapping[str, Any], chat: bool, ctx: oa.Ctx) -> dict[str, Any] | None:
    fmt = oa.output_format(body, chat, ctx, json_object=False, why=_SCHEMA_ONLY)
    if fmt is None or fmt.schema is None:  # no schema: only with json_object=True
        return None
    return {"format": {"type": "json_schema", "schema": _schema(fmt.schema, fmt.where, ctx)}}


def _schema(schema: dict[str, Any], where: str, ctx: oa.Ctx) -> dict[str, Any]:
    try:
        return claude_json_schema(schema)
    except ValueError as exc:
        raise ctx.fail(where, str(exc)) from exc


# -- content ------------------------------------------------------------------------


def _message(turn: oa.Turn, ctx: oa.Ctx) -> dict[str, Any]:
    blocks = [_block(part, ctx) for part in turn.parts]
    if len(blocks) == 1 and blocks[0]["type"] == "text":  # plain text, as people write it
        return {"role": turn.role, "content": blocks[0]["text"]}
    return {"role": turn.role, "content": blocks}


def _block(part: oa.Part, ctx: oa.Ctx) -> dict[str, Any]:
    if isinstance(part, oa.Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, oa.Image):
        return _image(part.url, ctx)
    if isinstance(part, oa.ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.call_id}
    if isinstance(part.content, str):
        if part.content:
            block["content"] = part.content
    elif part.content is not None:
        block["content"] = [{"type": "text", "text": t.text} for t in part.content]
    return block


def _image(url: str, ctx: oa.Ctx) -> dict[str, Any]:
    if url.startswith("data:"):
        header, comma, data = url.partition(",")
        media = header.removeprefix("data:").removesuffix(";base64").lower()
        if not comma or not header.endswith(";base64") or media not in _IMAGE_TYPES:
            raise ctx.fail(f"an image data URL ({header[:40]})", "only base64 jpeg/png/gif/webp")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ctx.fail("an image url that is neither data: nor http(s)", "no Anthropic form")
