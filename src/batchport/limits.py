"""Provider limits and rule codes, in one table.

Every limit batchport enforces or plans around lives in :data:`PROVIDERS`. Each
:class:`Rule` is batchport's own stable name for a batch-file check; each profile maps
it to the code that provider reports (``invalid_url`` on OpenAI is ``url_mismatch`` on
Azure). Where a provider documents no code for a rule, the mapping uses its generic
``invalid_request``; ``file_too_large`` is batchport's own, since providers refuse such
files at upload, before any batch exists.

Sources: OpenAI's Batch guide and the ``openai`` SDK docstrings; Microsoft's Azure OpenAI
global batch how-to (error codes, known issues) and its limits page; Anthropic's "Batch
processing" guide, its Message Batches API reference, its "Errors" and "Rate limits"
pages and the ``anthropic`` SDK's types (``../shared/reference/anthropic-batches.md``);
Gemini's "Batch API" guide, its API reference and the ``google-genai`` SDK
(``../shared/reference/gemini-and-others.md`` §2).

Anthropic differs in kind, not only in numbers: a Message Batch has no input file (its
requests are sent inline, ``{"requests": [{"custom_id", "params"}]}``), takes any mix of
models, targets only ``/v1/messages``, and refuses custom_ids outside
``^[a-zA-Z0-9_-]{1,64}$``. batchport still writes its requests as
``{custom_id, method, url, body}`` lines; the backend turns each into an inline entry.

Gemini differs again: one batch takes its requests either inline in the create call
(under 20 MB) or from an uploaded JSONL file of ``{"key", "request"}`` lines (up to 2 GB);
the backend picks the mode by size (:attr:`ProviderProfile.max_inline_bytes`). The create
url names the model, so a batch holds one model; each request is a ``generateContent``
request, and its key is any string (no documented pattern or length).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from batchport.errors import ConfigError
from batchport.requests import Endpoint

__all__ = ["PROVIDERS", "ProviderProfile", "Rule", "get_profile"]

MB = 1024 * 1024
# Gemini states its sizes as "20 MB" and "2 GB" without saying which unit; the decimal
# reading is the smaller one, so a shard cut at it fits either way.
_GEMINI_INLINE_BYTES = 20_000_000
_GEMINI_FILE_BYTES = 2_000_000_000


class Rule(StrEnum):
    """A batch-file check, named independently of any provider."""

    INVALID_JSON = "invalid_json"
    BLANK_LINE = "blank_line"
    UTF8_BOM = "utf8_bom"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_PARAMETER = "missing_parameter"
    INVALID_CUSTOM_ID = "invalid_custom_id"
    DUPLICATE_CUSTOM_ID = "duplicate_custom_id"
    INVALID_METHOD = "invalid_method"
    INVALID_URL = "invalid_url"
    URL_MISMATCH = "url_mismatch"
    UNSUPPORTED_ENDPOINT = "unsupported_endpoint"
    INVALID_BODY = "invalid_body"
    MISSING_BODY_FIELD = "missing_body_field"
    INVALID_BODY_FIELD = "invalid_body_field"
    STREAMING = "streaming"
    MODEL_MISMATCH = "model_mismatch"
    EMPTY_FILE = "empty_file"
    TOO_MANY_REQUESTS = "too_many_requests"
    FILE_TOO_LARGE = "file_too_large"
    TOO_MANY_EMBEDDING_INPUTS = "too_many_embedding_inputs"
    CUSTOM_ID_PATTERN = "custom_id_pattern"


def _codes(generic: str, specific: Mapping[Rule, str]) -> Mapping[Rule, str]:
    return MappingProxyType({rule: specific.get(rule, generic) for rule in Rule})


_OPENAI_CODES = _codes(
    "invalid_request",
    {
        Rule.INVALID_JSON: "invalid_json_line",
        Rule.BLANK_LINE: "invalid_json_line",
        Rule.UTF8_BOM: "invalid_json_line",
        Rule.MISSING_PARAMETER: "missing_required_parameter",
        Rule.DUPLICATE_CUSTOM_ID: "duplicate_custom_id",
        Rule.INVALID_URL: "invalid_url",
        Rule.URL_MISMATCH: "invalid_url",
        Rule.UNSUPPORTED_ENDPOINT: "invalid_url",
        Rule.STREAMING: "streaming_unsupported",
        Rule.MODEL_MISMATCH: "mismatched_model",
        Rule.EMPTY_FILE: "empty_file",
        Rule.TOO_MANY_REQUESTS: "too_many_tasks",
        Rule.FILE_TOO_LARGE: "file_too_large",
    },
)

# Azure documents only these batch codes; everything else is ``invalid_request``
# ("bad line schema"), including BOM files, which Azure reports misleadingly as a
# deployment name that "couldn't be extracted".
_AZURE_CODES = _codes(
    "invalid_request",
    {
        Rule.INVALID_JSON: "invalid_json_line",
        Rule.BLANK_LINE: "invalid_json_line",
        Rule.DUPLICATE_CUSTOM_ID: "duplicate_custom_id",
        Rule.INVALID_URL: "url_mismatch",
        Rule.URL_MISMATCH: "url_mismatch",
        Rule.UNSUPPORTED_ENDPOINT: "url_mismatch",
        Rule.MODEL_MISMATCH: "model_mismatch",
        Rule.EMPTY_FILE: "empty_file",
        Rule.TOO_MANY_REQUESTS: "too_many_tasks",
        Rule.FILE_TOO_LARGE: "file_too_large",
    },
)


# Anthropic reports nearly every refusal as ``invalid_request_error`` (a create-time 400, or
# an errored result line once the batch ends); a body over 256 MB is refused at the edge
# with 413 ``request_too_large`` (Errors page).
_ANTHROPIC_CODES = _codes(
    "invalid_request_error",
    {Rule.FILE_TOO_LARGE: "request_too_large"},
)


# Gemini answers in google.rpc.Status terms: a malformed batch or request is a 400
# ``INVALID_ARGUMENT`` (API reference; errors guide). It documents no finer code for any
# batch-file rule; ``file_too_large`` is batchport's own, as for OpenAI (the Files API
# refuses such a file at upload, before a batch exists).
_GEMINI_CODES = _codes("INVALID_ARGUMENT", {Rule.FILE_TOO_LARGE: "file_too_large"})


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """What one provider accepts in a batch input file.

    Sizes are in bytes; ``max_embedding_inputs`` counts inputs across all embedding
    requests of one file (``None``: no such limit). ``model_is_deployment`` means
    ``body.model`` names a deployment rather than a model. ``endpoint_from_file`` means the
    service takes the endpoint from the lines' ``url`` and does not match it against the
    ``endpoint`` given to ``batches.create`` (Azure's samples pass ``/chat/completions``
    even for ``/v1/responses`` files); the lines must still agree with each other.
    ``single_model_per_file`` False means one batch may mix models (Anthropic).

    ``translated_endpoints`` are endpoints batchport rewrites into one of ``endpoints``
    before sending (chat and responses requests become Anthropic Messages requests):
    :func:`batchport.validate.validate_file` accepts them in a caller's file, while the
    runner's check of the rewritten lines does not. ``custom_id_pattern`` is the regular
    expression every custom_id must match in full (``None``: any non-empty string).
    ``max_queued_requests`` maps a rate-limit tier to the number of batch requests the
    provider holds in its processing queue at once (empty: no such limit known); which
    tier applies is the caller's setting.

    ``max_inline_bytes`` is set for a provider that takes a batch's requests either
    inline in the create call, up to that many bytes, or from an uploaded file of up to
    ``max_file_bytes`` (Gemini): the backend sends a shard inline when its lines fit under
    it and uploads it otherwise; the planner cuts shards at ``max_file_bytes``. ``None``:
    the provider has one way in, sized by ``max_file_bytes``.
    """

    name: str
    title: str
    max_requests: int
    max_file_bytes: int
    max_embedding_inputs: int | None
    endpoints: frozenset[Endpoint]
    accepts_unversioned_urls: bool
    endpoint_from_file: bool
    single_model_per_file: bool
    model_is_deployment: bool
    completion_windows: tuple[str, ...]
    codes: Mapping[Rule, str] = field(repr=False)
    translated_endpoints: frozenset[Endpoint] = frozenset()
    custom_id_pattern: str | None = None
    max_queued_requests: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )
    max_inline_bytes: int | None = None

    def code(self, rule: Rule) -> str:
        """The code this provider reports for ``rule``."""
        return self.codes[rule]

    def endpoint_for_url(self, url: object) -> Endpoint | None:
        """The endpoint a line's ``url`` names in this provider's accepted forms, else None.

        The endpoint may still be unsupported here; check :meth:`supports`.
        """
        return Endpoint.from_url(url, allow_unversioned=self.accepts_unversioned_urls)

    def supports(self, endpoint: Endpoint) -> bool:
        """Whether this provider runs batches for ``endpoint``."""
        return endpoint in self.endpoints

    def custom_id_fits(self, custom_id: str) -> bool:
        """Whether the provider accepts ``custom_id`` as it is (its pattern, if any)."""
        pattern = self.custom_id_pattern
        return pattern is None or re.fullmatch(pattern, custom_id) is not None

    def min_files(self, requests: int, size_bytes: int, embedding_inputs: int = 0) -> int:
        """Fewest files a batch of this shape must be split into (rows, bytes, inputs).

        A lower bound for a planner: it assumes rows can be packed evenly.
        """
        counts = [1, -(-requests // self.max_requests), -(-size_bytes // self.max_file_bytes)]
        if self.max_embedding_inputs and embedding_inputs:
            counts.append(-(-embedding_inputs // self.max_embedding_inputs))
        return max(counts)


PROVIDERS: Mapping[str, ProviderProfile] = MappingProxyType(
    {
        "openai": ProviderProfile(
            name="openai",
            title="OpenAI",
            max_requests=50_000,
            max_file_bytes=200 * MB,
            max_embedding_inputs=50_000,
            # every OpenAI Batch API endpoint; /v1/messages is Anthropic's and
            # /v1beta/generateContent Gemini's
            endpoints=frozenset(Endpoint) - {Endpoint.MESSAGES, Endpoint.GENERATE_CONTENT},
            accepts_unversioned_urls=False,
            endpoint_from_file=False,
            single_model_per_file=True,
            model_is_deployment=False,
            completion_windows=("24h",),
            codes=_OPENAI_CODES,
        ),
        "azure": ProviderProfile(
            name="azure",
            title="Azure OpenAI",
            max_requests=100_000,
            max_file_bytes=200 * MB,
            max_embedding_inputs=None,
            # The docs name chat completions and responses; embeddings are "not supported".
            endpoints=frozenset({Endpoint.CHAT_COMPLETIONS, Endpoint.RESPONSES}),
            accepts_unversioned_urls=True,
            endpoint_from_file=True,
            single_model_per_file=True,
            model_is_deployment=True,
            completion_windows=("24h",),
            codes=_AZURE_CODES,
        ),
        "anthropic": ProviderProfile(
            name="anthropic",
            title="Anthropic",
            # "A Message Batch is limited to either 100,000 Message requests or 256 MB in
            # size, whichever is reached first" (Batch processing guide); the API reference
            # gives requests ``maxItems: 100000``. The 256 MB is the inline JSON body; the
            # lines batchport measures carry ``method`` and ``url`` besides (about 40 bytes
            # more per request than the ``{"custom_id", "params"}`` entry), so a shard cut
            # at this size stays under it.
            max_requests=100_000,
            max_file_bytes=256 * MB,
            max_embedding_inputs=None,
            endpoints=frozenset({Endpoint.MESSAGES}),
            accepts_unversioned_urls=False,
            # no file and no ``endpoint`` argument at create: every request is a Messages
            # request, so only the lines' agreement with each other is checked
            endpoint_from_file=True,
            # "mix different types of requests" in one batch (guide); each ``params.model``
            # stands on its own
            single_model_per_file=False,
            model_is_deployment=False,
            # no completion_window parameter: a batch expires 24 h after creation (guide)
            completion_windows=(),
            codes=_ANTHROPIC_CODES,
            translated_endpoints=frozenset({Endpoint.CHAT_COMPLETIONS, Endpoint.RESPONSES}),
            # "1-64 characters ... ^[a-zA-Z0-9_-]{1,64}$" (guide; API reference, create)
            custom_id_pattern=r"[a-zA-Z0-9_-]{1,64}",
            # "Rate limits" page, Message Batches API: batch requests in the processing
            # queue per tier (Start / Build / Scale; the older page's Tier 2 / 3 / 4 hold
            # the same numbers, Tier 1 100,000). A request counts until it is processed.
            max_queued_requests=MappingProxyType(
                {"start": 200_000, "build": 300_000, "scale": 500_000}
            ),
        ),
        "gemini": ProviderProfile(
            name="gemini",
            title="Gemini",
            # Neither the Batch API guide nor the API reference gives a count of requests
            # per batch; bytes bind instead (2 GB of file, 20 MB inline). The number
            # below is no provider limit, only large enough never to be the one that cuts
            # a shard before the 2 GB does (a request line is rarely under 100 bytes).
            max_requests=20_000_000,
            # an input file of up to 2 GB (guide, "Input file"; the Files API's per-file
            # cap is the same). Decimal reading, see _GEMINI_FILE_BYTES.
            max_file_bytes=_GEMINI_FILE_BYTES,
            # inline requests only while the whole create request stays under 20 MB
            # (guide, "Inline requests"). The lines batchport measures carry ``custom_id``,
            # ``method`` and ``url`` where the inline entry carries ``metadata.key``, so a
            # shard whose lines fit stays under it.
            max_inline_bytes=_GEMINI_INLINE_BYTES,
            max_embedding_inputs=None,
            endpoints=frozenset({Endpoint.GENERATE_CONTENT}),
            accepts_unversioned_urls=False,
            # no ``endpoint`` argument at create (the path names ``batchGenerateContent``):
            # only the lines' agreement with each other is checked
            endpoint_from_file=True,
            # ``POST /v1beta/models/{model}:batchGenerateContent``: the url names the one
            # model every request of the batch runs on (SDK ``batches.create(model=)``)
            single_model_per_file=True,
            model_is_deployment=False,
            # no window to choose: a batch still pending or running after 48 h expires
            # with no results (guide, "Batch job states"; the target is 24 h)
            completion_windows=(),
            codes=_GEMINI_CODES,
            translated_endpoints=frozenset({Endpoint.CHAT_COMPLETIONS, Endpoint.RESPONSES}),
            # keys are user-defined strings (file lines' ``key``, inline ``metadata.key``,
            # a map<string, string>); no documented pattern or length, so none is checked.
            # Duplicates are still refused by batchport, which joins results on the key.
            custom_id_pattern=None,
            # Gemini's batch quota counts enqueued tokens per model and tier (rate-limits
            # page), not queued requests, so no request-count queue limit applies.
        ),
    }
)


def get_profile(name: str | ProviderProfile) -> ProviderProfile:
    """The profile called ``name`` (a profile passes through unchanged).

    Raises:
        ConfigError: no provider has that name; the message lists the known ones.
    """
    if isinstance(name, ProviderProfile):
        return name
    profile = PROVIDERS.get(name.lower()) if isinstance(name, str) else None
    if profile is None:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(f"unknown provider {name!r}; known providers: {known}")
    return profile
