"""Token estimates for request bodies, for sharding and enqueued-token quotas.

Counts come from ``tiktoken`` (the optional ``tokens`` extra) when it is importable
*and* its encoding loads; tiktoken fetches encodings over the network on first use, so
any failure there is caught once, remembered, and the heuristic takes over for the rest
of the process. The heuristic:

- text: ASCII text is ~4 characters a token; other text is ~3 UTF-8 bytes a token, which
  errs high for accented Latin and about right for CJK. Estimates err high on purpose,
  because a planner under-counting an enqueued-token quota gets whole batches refused.
- chat messages: +3 tokens each and +3 for the reply primer (OpenAI's cookbook figures).
- images: a fixed cost, 85 tokens at ``detail="low"``, else 765 (one 1024x1024 high-detail
  image); an Anthropic ``image`` block costs :data:`CLAUDE_IMAGE_TOKENS`, the most one image
  costs there (about 1.15 megapixels / 750); audio, file and ``document`` parts: a fixed
  :data:`FILE_PART_TOKENS`.
- Anthropic Messages bodies count like chat: ``system`` (a string or text blocks) and each
  message, with the same per-message overhead.
- Gemini ``generateContent`` bodies count ``systemInstruction`` and each content like chat
  (the same per-content overhead): ``text`` parts as text, an ``inlineData`` / ``fileData``
  image as :data:`GEMINI_IMAGE_TOKENS` (a 1024x1024 image: four 768-pixel tiles of 258
  tokens), any other media part :data:`FILE_PART_TOKENS`, function calls and responses
  as their JSON text; output is ``generationConfig.maxOutputTokens`` times
  ``candidateCount``.
- tools, functions and structured-output schemas count as their JSON text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from batchport.requests import Endpoint

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "count_text_tokens",
    "estimate_input_tokens",
    "estimate_output_tokens",
    "estimate_tokens",
    "reset_tokenizer",
    "tokenizer_name",
]

log = logging.getLogger(__name__)

ENCODING_NAME = "o200k_base"
MESSAGE_OVERHEAD_TOKENS = 3
REPLY_PRIMER_TOKENS = 3
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765
FILE_PART_TOKENS = 1_000
CLAUDE_IMAGE_TOKENS = 1_600
GEMINI_IMAGE_TOKENS = 1_032
DEFAULT_OUTPUT_TOKENS = 1_024
"""Output budget assumed for a request that sets no max-tokens field."""

_IMAGE_PARTS = frozenset({"image_url", "input_image", "image_file"})
_FIXED_PARTS = frozenset({"input_audio", "input_file", "file", "audio", "document"})
# Keys whose string values are protocol, not prompt text.
_SKIP_KEYS = frozenset({"type", "role", "detail", "id", "call_id", "status", "format", "model"})

_MAX_DEPTH = 64

_lock = threading.Lock()
_encode: Callable[[str], int] | None = None
_decided = False


def _load_tiktoken() -> Callable[[str], int] | None:
    try:
        import tiktoken

        encoding = tiktoken.get_encoding(ENCODING_NAME)
        encoding.encode("probe")
    except Exception as exc:  # any failure (missing, offline, corrupt cache) -> heuristic
        log.debug("tiktoken unavailable (%s: %s); using the heuristic", type(exc).__name__, exc)
        return None

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return count


def _encoder() -> Callable[[str], int] | None:
    global _encode, _decided
    if not _decided:
        with _lock:
            if not _decided:
                _encode = _load_tiktoken()
                _decided = True
    return _encode


def reset_tokenizer() -> None:
    """Forget the tiktoken decision, so the next estimate tries to load it again."""
    global _encode, _decided
    with _lock:
        _encode, _decided = None, False


def tokenizer_name() -> str:
    """``"tiktoken:o200k_base"`` when tiktoken is in use, else ``"heuristic"``."""
    return f"tiktoken:{ENCODING_NAME}" if _encoder() is not None else "heuristic"


def _heuristic(text: str) -> int:
    if text.isascii():
        return -(-len(text) // 4)
    try:
        size = len(text.encode())
    except UnicodeEncodeError:  # lone surrogates: count them as the 3 bytes they take
        size = len(text.encode("utf-8", "surrogatepass"))
    return -(-size // 3)


def count_text_tokens(text: str) -> int:
    """Tokens in ``text``: tiktoken's count when available, else the heuristic."""
    if not text:
        return 0
    encode = _encoder()
    return encode(text) if encode is not None else _heuristic(text)


def _json_tokens(value: object) -> int:
    try:
        return -(-len(orjson.dumps(value)) // 4)
    except (TypeError, RecursionError):  # not JSON-able, or nested past orjson's limit
        return 0


def _content_tokens(value: object, count: Callable[[str], int], depth: int = 0) -> int:
    """Tokens in a content value: a string, a list of parts/items, or a part/item."""
    if isinstance(value, str):
        return count(value) if value else 0
    if depth > _MAX_DEPTH:  # hostile nesting: stop rather than overflow the stack
        return 0
    if isinstance(value, list):
        return sum(_content_tokens(item, count, depth + 1) for item in value)
    if isinstance(value, dict):
        kind = value.get("type")
        if kind is not None and type(kind) is not str:  # unhashable, or no kind of part
            kind = ""
        if kind in _IMAGE_PARTS or ("image_url" in value and kind is None):
            return _image_tokens(value)
        if kind == "image":  # an Anthropic image block; its source is not prompt text
            return CLAUDE_IMAGE_TOKENS
        if kind in _FIXED_PARTS:
            return FILE_PART_TOKENS
        total = 0
        for key, item in value.items():
            if key in _SKIP_KEYS:
                continue
            if key == "parameters" or key == "schema":
                total += _json_tokens(item)
            else:
                total += _content_tokens(item, count, depth + 1)
        return total
    return 0


def _image_tokens(part: Mapping[str, Any]) -> int:
    detail = part.get("detail")
    inner = part.get("image_url")
    if detail is None and isinstance(inner, dict):
        detail = inner.get("detail")
    return IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_HIGH


def _chat_tokens(body: Mapping[str, Any], count: Callable[[str], int]) -> int:
    messages = body.get("messages")
    total = REPLY_PRIMER_TOKENS
    if isinstance(messages, list):
        for message in messages:
            total += MESSAGE_OVERHEAD_TOKENS
            # Fast path for the common {"role", "content": str} message.
            if type(message) is dict and len(message) == 2:
                content = message.get("content")
                if type(content) is str and "role" in message:
                    total += count(content) if content else 0
                    continue
            total += _content_tokens(message, count)
    for key in ("tools", "functions", "response_format"):
        if key in body:
            total += _json_tokens(body[key])
    return total


def _messages_tokens(body: Mapping[str, Any], count: Callable[[str], int]) -> int:
    """Anthropic Messages: ``system`` plus the messages, counted as chat counts them."""
    total = _chat_tokens(body, count)
    total += _content_tokens(body.get("system"), count)
    if "output_config" in body:
        total += _json_tokens(body["output_config"])
    return total


def _gemini_part_tokens(part: object, count: Callable[[str], int]) -> int:
    if not isinstance(part, dict):
        return 0
    text = part.get("text")
    if isinstance(text, str):
        return count(text) if text else 0
    media = part.get("inlineData") or part.get("fileData")
    if isinstance(media, dict):
        mime = media.get("mimeType")
        image = isinstance(mime, str) and mime.startswith("image/")
        return GEMINI_IMAGE_TOKENS if image else FILE_PART_TOKENS
    return _json_tokens(part)  # function calls and responses, code, ...


def _gemini_content_tokens(content: object, count: Callable[[str], int]) -> int:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return 0
    return sum(_gemini_part_tokens(part, count) for part in parts)


def _gemini_tokens(body: Mapping[str, Any], count: Callable[[str], int]) -> int:
    """Gemini ``generateContent``: systemInstruction, contents, tools and output schema."""
    total = REPLY_PRIMER_TOKENS + _gemini_content_tokens(body.get("systemInstruction"), count)
    contents = body.get("contents")
    if isinstance(contents, list):
        for content in contents:
            total += MESSAGE_OVERHEAD_TOKENS + _gemini_content_tokens(content, count)
    for key in ("tools", "toolConfig"):
        if key in body:
            total += _json_tokens(body[key])
    config = body.get("generationConfig")
    if isinstance(config, dict):
        for key in ("responseSchema", "responseJsonSchema"):
            if key in config:
                total += _json_tokens(config[key])
    return total


def _responses_tokens(body: Mapping[str, Any], count: Callable[[str], int]) -> int:
    total = _content_tokens(body.get("input"), count)
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        total += count(instructions)
    prompt = body.get("prompt")
    if isinstance(prompt, dict):
        total += _content_tokens(prompt.get("variables"), count)
    for key in ("tools", "text"):
        if key in body:
            total += _json_tokens(body[key])
    items = body.get("input")
    if isinstance(items, list):
        total += MESSAGE_OVERHEAD_TOKENS * len(items)
    return total


def _token_array_tokens(value: object, count: Callable[[str], int]) -> int:
    """Embeddings/completions input: str, list[str], list[int] or list[list[int]]."""
    if isinstance(value, list) and value and isinstance(value[0], int):
        return len(value)
    if isinstance(value, list):
        return sum(
            len(item) if isinstance(item, list) else _content_tokens(item, count, 1)
            for item in value
        )
    return _content_tokens(value, count)


def _as_endpoint(endpoint: Endpoint | str | None) -> Endpoint | None:
    if endpoint is None or type(endpoint) is Endpoint:
        return endpoint
    return Endpoint.from_url(endpoint, allow_unversioned=True)


def estimate_input_tokens(body: Mapping[str, Any], endpoint: Endpoint | str | None) -> int:
    """Estimated prompt tokens of one request ``body`` sent to ``endpoint``.

    Never raises on odd bodies: unknown shapes count what text they hold. Unknown
    endpoints count every string in the body.
    """
    encode = _encoder()
    count = encode if encode is not None else _heuristic
    ep = _as_endpoint(endpoint)
    if ep is Endpoint.CHAT_COMPLETIONS:
        return _chat_tokens(body, count)
    if ep is Endpoint.RESPONSES:
        return _responses_tokens(body, count)
    if ep is Endpoint.MESSAGES:
        return _messages_tokens(body, count)
    if ep is Endpoint.GENERATE_CONTENT:
        return _gemini_tokens(body, count)
    if ep is Endpoint.EMBEDDINGS or ep is Endpoint.MODERATIONS:
        return _token_array_tokens(body.get("input"), count)
    if ep is Endpoint.COMPLETIONS:
        return _token_array_tokens(body.get("prompt"), count)
    if ep in (Endpoint.IMAGES_GENERATIONS, Endpoint.IMAGES_EDITS, Endpoint.VIDEOS):
        prompt = body.get("prompt")
        return count(prompt) if isinstance(prompt, str) else 0
    return _content_tokens(dict(body), count)


_NO_OUTPUT = (Endpoint.EMBEDDINGS, Endpoint.MODERATIONS)
# read once: on Python 3.11 each read of a member off the class is a Python call
_CHAT = Endpoint.CHAT_COMPLETIONS
_MAX_KEYS = ("max_completion_tokens", "max_output_tokens", "max_tokens")


def estimate_output_tokens(
    body: Mapping[str, Any],
    endpoint: Endpoint | str | None = None,
    *,
    default: int = DEFAULT_OUTPUT_TOKENS,
) -> int:
    """Upper bound on output tokens: the body's max-tokens field times ``n``, else ``default``.

    Embeddings and moderations produce no output tokens. A Gemini body's fields are
    ``generationConfig.maxOutputTokens`` and ``candidateCount``.
    """
    ep = _as_endpoint(endpoint) if endpoint is not None else None
    if ep in _NO_OUTPUT:
        return 0
    if ep is Endpoint.GENERATE_CONTENT:
        config = body.get("generationConfig")
        config = config if isinstance(config, dict) else {}
        return _budget(config, ("maxOutputTokens",), "candidateCount", default)
    return _budget(body, _MAX_KEYS, "n", default)


def _budget(body: Mapping[str, Any], keys: tuple[str, ...], times: str, default: int) -> int:
    budget = default
    get = body.get
    for key in keys:
        value = get(key)
        if value is not None and isinstance(value, int) and type(value) is not bool and value >= 0:
            budget = value
            break
    n = get(times)
    if n is not None and isinstance(n, int) and type(n) is not bool and n > 1:
        budget *= n
    return budget


def estimate_tokens(body: Mapping[str, Any], endpoint: Endpoint | str | None) -> tuple[int, int]:
    """``(estimate_input_tokens(body, endpoint), estimate_output_tokens(body, endpoint))``
    in one call: what a planner asks of every request."""
    ep = _as_endpoint(endpoint)
    if ep is _CHAT:
        encode = _encode if _decided else _encoder()
        tokens_in = _chat_tokens(body, encode if encode is not None else _heuristic)
        return tokens_in, _budget(body, _MAX_KEYS, "n", DEFAULT_OUTPUT_TOKENS)
    return estimate_input_tokens(body, ep), estimate_output_tokens(body, ep)
