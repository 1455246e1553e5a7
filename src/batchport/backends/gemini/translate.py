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

from collections.abc import Mapping
from typing import Any

from batchport.backends import _openai_shapes as oa
from batchport.backends._openai_shapes import UNMAPPED_MODEL, UNTRANSLATABLE
from batchport.requests import Endpoint, Request

__all__ = ["MAX_STOP_SEQUENCES", "UNMAPPED_MODEL", "UNTRANSLATABLE", "to_generate_content"]

MAX_STOP_SEQUENCES = 5
"""Most ``stopSequences`` Gemini takes (``GenerationConfig.stop_sequences``: "up to 5")."""

_TARGET = oa.Target(
    name="Gemini",
    request="a Gemini generateContent request",
    form="generateContent",
    no_counterpart="Gemini has no counterpart",
    no_names="Gemini contents carry no names",
    system_place="Gemini's systemInstruction",
    final_turn="Gemini documents no continuation of a final model turn",
    call_args="Gemini function args are an object",
    family="Gemini",
    prefix="gemini-",
    example="gemini-2.5-flash",
    namespace="models/",
)
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})
# Models that check thought signatures on replayed function calls.
_SIGNED_CALLS = ("gemini-3",)
_DROPPED = oa.DROPPED | {"user", "safety_identifier"}
_WHY = {"n": "batchport reads one answer per request", "logit_bias": "Gemini has no token biases"}

_CHAT_HANDLED = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
    "seed", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "tools",
    "tool_choice", "parallel_tool_calls", "response_format",
})  # fmt: skip
_RESPONSES_HANDLED = frozenset({
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools",
    "tool_choice", "parallel_tool_calls", "text",
})  # fmt: skip


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

    def convert(body: Mapping[str, Any], chat: bool, ctx: oa.Ctx) -> dict[str, Any]:
        return _params(body, chat, models, default_max_tokens, ctx)

    return oa.translate(request, _TARGET, Endpoint.GENERATE_CONTENT, models, convert)


def _params(
    body: Mapping[str, Any],
    chat: bool,
    models: Mapping[str, str],
    default: int | None,
    ctx: oa.Ctx,
) -> dict[str, Any]:
    if chat:
        oa.check_keys(body, _CHAT_HANDLED, _DROPPED, oa.CHAT_NEUTRAL, ctx, _WHY)
    else:
        oa.check_keys(body, _RESPONSES_HANDLED, _DROPPED, oa.RESPONSES_NEUTRAL, ctx, _WHY)
    params: dict[str, Any] = {"model": oa.map_model(body.get("model"), models, ctx)}
    config = _generation(body, default, chat, ctx)
    conversation = oa.read_conversation(body, chat, ctx)
    contents = _contents(conversation, ctx)
    config.update(_output_format(body, chat, ctx))
    oa.check_turns(conversation, ctx)
    if conversation.has_calls and params["model"].startswith(_SIGNED_CALLS):
        raise ctx.fail(
            f"a replayed function call for {params['model']}",
            "Gemini 3 models check a thought signature on each function call of the "
            "history, which an OpenAI conversation does not carry",
        )
    params["contents"] = contents
    if conversation.system:
        params["systemInstruction"] = {"parts": [{"text": text} for text in conversation.system]}
    params.update(_tools(body, chat, ctx))
    if config:
        params["generationConfig"] = config
    return params


# -- parameters ---------------------------------------------------------------------


def _int(value: object, what: str, ctx: oa.Ctx, *, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ctx.bad(f"{what} must be an integer of at least {low}, got {oa.short(value)}")
    return value


def _generation(
    body: Mapping[str, Any], default: int | None, chat: bool, ctx: oa.Ctx
) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = oa.max_tokens(body, chat, ctx)
    limit = default if limit is None else limit
    if limit is not None:
        config["maxOutputTokens"] = _int(limit, "max tokens", ctx, low=1)
    for key, wire, low, high in (("temperature", "temperature", 0, 2), ("top_p", "topP", 0, 1)):
        if (value := oa.number(body, key, low, high, ctx)) is not None:
            config[wire] = value
    if not chat:
        return config
    if stops := oa.stop_sequences(body, ctx):
        if len(stops) > MAX_STOP_SEQUENCES:
            why = f"Gemini takes at most {MAX_STOP_SEQUENCES}"
            raise ctx.fail(f"{len(stops)} stop sequences", why)
        config["stopSequences"] = stops
    for key, wire in (("presence_penalty", "presencePenalty"),
                      ("frequency_penalty", "frequencyPenalty")):  # fmt: skip
        if (value := oa.number(body, key, -2, 2, ctx)) is not None and value != 0:
            config[wire] = value
    if body.get("seed") is not None:
        config["seed"] = _int(body["seed"], "seed", ctx, low=-(2**63))
    _logprobs(body, config, ctx)
    return config


def _logprobs(body: Mapping[str, Any], config: dict[str, Any], ctx: oa.Ctx) -> None:
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


# -- tools and output format -------------------------------------------------------


def _tools(body: Mapping[str, Any], chat: bool, ctx: oa.Ctx) -> dict[str, Any]:
    """``tools`` and ``toolConfig`` for the body (empty without tools)."""
    parallel = body.get("parallel_tool_calls")
    if parallel is False:
        raise ctx.fail("parallel_tool_calls=False", "Gemini has no switch for parallel calls")
    if parallel is not None and parallel is not True:
        raise ctx.bad("parallel_tool_calls must be a boolean")
    tools = oa.read_tools(body, chat, ctx)
    if tools is None:
        return {}
    declarations = []
    for fn in tools.functions:
        declaration: dict[str, Any] = {"name": fn.name}
        if fn.description is not None:
            declaration["description"] = fn.description
        if fn.parameters is not None:
            if not isinstance(fn.parameters, dict):
                raise ctx.bad(f"tool {fn.name!r} parameters must be a JSON schema object")
            declaration["parametersJsonSchema"] = fn.parameters
        declarations.append(declaration)
    out: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    strict = any(fn.strict for fn in tools.functions)
    calling = _calling_config(tools.choice, strict, ctx)
    if calling is not None:
        out["toolConfig"] = {"functionCallingConfig": calling}
    return out


def _calling_config(
    choice: oa.ToolChoice | None, strict: bool, ctx: oa.Ctx
) -> dict[str, Any] | None:
    if choice is None or choice.mode == "auto":
        return {"mode": "VALIDATED"} if strict else None
    if choice.mode == "function":
        if not isinstance(choice.name, str) or not choice.name:
            raise ctx.bad("tool_choice names no function")
        return {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    return {"mode": {"none": "NONE", "required": "ANY"}[choice.mode]}


def _output_format(body: Mapping[str, Any], chat: bool, ctx: oa.Ctx) -> dict[str, Any]:
    """``response_format`` or ``text.format`` as generationConfig keys."""
    why = "only text, json_object or json_schema"
    fmt = oa.output_format(body, chat, ctx, json_object=True, why=why)
    if fmt is None:
        return {}
    if fmt.schema is None:
        return {"responseMimeType": "application/json"}
    return {"responseMimeType": "application/json", "responseJsonSchema": fmt.schema}


# -- content ------------------------------------------------------------------------


def _contents(conversation: oa.Conversation, ctx: oa.Ctx) -> list[dict[str, Any]]:
    """The turns as ``contents``; a tool result is named after the call it answers."""
    call_names: dict[str, str] = {}
    contents = []
    for turn in conversation.turns:
        parts: list[dict[str, Any]] = []
        for part in turn.parts:
            if isinstance(part, oa.Text):
                parts.append({"text": part.text})
            elif isinstance(part, oa.Image):
                parts.append(_image(part.url, ctx))
            elif isinstance(part, oa.ToolCall):
                if not part.name:
                    raise ctx.bad("a tool call needs a string id and name")
                call_names[part.id] = part.name
                parts.append({"functionCall": {"name": part.name, "args": part.arguments}})
            else:
                parts.append(_function_response(part, call_names, ctx))
        contents.append({"role": "user" if turn.role == "user" else "model", "parts": parts})
    return contents


def _function_response(
    result: oa.ToolResult, call_names: Mapping[str, str], ctx: oa.Ctx
) -> dict[str, Any]:
    name = call_names.get(result.call_id)
    if name is None:
        raise ctx.bad(f"tool result {result.call_id!r} answers no earlier tool call")
    if isinstance(result.content, str):
        output = result.content
    else:
        output = "\n".join(t.text for t in result.content or ())
    return {"functionResponse": {"name": name, "response": {"output": output}}}


def _image(url: str, ctx: oa.Ctx) -> dict[str, Any]:
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
