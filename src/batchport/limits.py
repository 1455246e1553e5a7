"""Provider limits and rule codes, in one table.

Every limit batchport enforces or plans around lives in :data:`PROVIDERS`. Each
:class:`Rule` is batchport's own stable name for a batch-file check; each profile maps
it to the code that provider reports (``invalid_url`` on OpenAI is ``url_mismatch`` on
Azure). Where a provider documents no code for a rule, the mapping uses its generic
``invalid_request``; ``file_too_large`` is batchport's own, since providers refuse such
files at upload, before any batch exists.

Sources: OpenAI's Batch guide and the ``openai`` SDK docstrings; Microsoft's Azure OpenAI
global batch how-to (error codes, known issues) and its limits page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from batchport.errors import ConfigError
from batchport.requests import Endpoint

__all__ = ["PROVIDERS", "ProviderProfile", "Rule", "get_profile"]

MB = 1024 * 1024


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


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """What one provider accepts in a batch input file.

    Sizes are in bytes; ``max_embedding_inputs`` counts inputs across all embedding
    requests of one file (``None``: no such limit). ``model_is_deployment`` means
    ``body.model`` names a deployment rather than a model. ``endpoint_from_file`` means the
    service takes the endpoint from the lines' ``url`` and does not match it against the
    ``endpoint`` given to ``batches.create`` (Azure's samples pass ``/chat/completions``
    even for ``/v1/responses`` files); the lines must still agree with each other.
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
            endpoints=frozenset(Endpoint),
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
