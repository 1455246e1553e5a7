"""Provider profiles: limits, url forms and each provider's own codes."""

from __future__ import annotations

import dataclasses

import pytest

from batchport.errors import ConfigError
from batchport.limits import PROVIDERS, ProviderProfile, Rule, get_profile
from batchport.requests import Endpoint

MB = 1024 * 1024


def test_openai_limits() -> None:
    p = get_profile("openai")
    assert (p.max_requests, p.max_file_bytes, p.max_embedding_inputs) == (50_000, 200 * MB, 50_000)
    assert p.endpoints == frozenset(Endpoint) - {Endpoint.MESSAGES, Endpoint.GENERATE_CONTENT}
    assert not p.supports(Endpoint.MESSAGES)
    assert not p.supports(Endpoint.GENERATE_CONTENT)
    assert p.single_model_per_file
    assert not p.model_is_deployment
    assert p.completion_windows == ("24h",)


def test_azure_limits() -> None:
    p = get_profile("azure")
    assert (p.max_requests, p.max_file_bytes) == (100_000, 200 * MB)
    assert p.model_is_deployment
    assert p.single_model_per_file
    assert not p.supports(Endpoint.EMBEDDINGS)
    assert p.supports(Endpoint.CHAT_COMPLETIONS)
    assert p.supports(Endpoint.RESPONSES)


@pytest.mark.parametrize(
    ("provider", "url", "expected"),
    [
        ("openai", "/v1/chat/completions", Endpoint.CHAT_COMPLETIONS),
        ("openai", "/chat/completions", None),
        ("azure", "/chat/completions", Endpoint.CHAT_COMPLETIONS),
        ("azure", "/v1/chat/completions", Endpoint.CHAT_COMPLETIONS),
        ("azure", "/v1/responses", Endpoint.RESPONSES),
        ("azure", "/v2/responses", None),
    ],
)
def test_accepted_url_forms(provider: str, url: str, expected: Endpoint | None) -> None:
    assert get_profile(provider).endpoint_for_url(url) is expected


@pytest.mark.parametrize(
    ("rule", "openai", "azure"),
    [
        (Rule.INVALID_JSON, "invalid_json_line", "invalid_json_line"),
        (Rule.MISSING_PARAMETER, "missing_required_parameter", "invalid_request"),
        (Rule.URL_MISMATCH, "invalid_url", "url_mismatch"),
        (Rule.MODEL_MISMATCH, "mismatched_model", "model_mismatch"),
        (Rule.DUPLICATE_CUSTOM_ID, "duplicate_custom_id", "duplicate_custom_id"),
        (Rule.STREAMING, "streaming_unsupported", "invalid_request"),
        (Rule.EMPTY_FILE, "empty_file", "empty_file"),
        (Rule.TOO_MANY_REQUESTS, "too_many_tasks", "too_many_tasks"),
    ],
)
def test_provider_codes(rule: Rule, openai: str, azure: str) -> None:
    assert PROVIDERS["openai"].code(rule) == openai
    assert PROVIDERS["azure"].code(rule) == azure


def test_every_rule_has_a_code_in_every_profile() -> None:
    for profile in PROVIDERS.values():
        assert set(profile.codes) == set(Rule)
        assert all(profile.codes.values())


def test_azure_uses_only_documented_codes() -> None:
    documented = {
        "invalid_json_line", "too_many_tasks", "url_mismatch", "model_not_found",
        "model_mismatch", "duplicate_custom_id", "empty_file", "invalid_request",
        "file_too_large",  # batchport's own: refused at upload, before any batch exists
    }  # fmt: skip
    assert set(PROVIDERS["azure"].codes.values()) <= documented


def test_unknown_provider_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="anthropic, azure, gemini, openai"):
        get_profile("vertex")


def test_anthropic_limits() -> None:
    p = get_profile("anthropic")
    assert (p.max_requests, p.max_file_bytes, p.max_embedding_inputs) == (100_000, 256 * MB, None)
    assert p.endpoints == frozenset({Endpoint.MESSAGES})
    assert p.supports(Endpoint.MESSAGES)
    assert not p.supports(Endpoint.GENERATE_CONTENT)
    assert not p.supports(Endpoint.CHAT_COMPLETIONS)
    assert p.translated_endpoints == frozenset({Endpoint.CHAT_COMPLETIONS, Endpoint.RESPONSES})
    assert not p.single_model_per_file
    assert not p.model_is_deployment
    assert dict(p.max_queued_requests) == {"start": 200_000, "build": 300_000, "scale": 500_000}
    assert p.code(Rule.FILE_TOO_LARGE) == "request_too_large"
    assert p.code(Rule.CUSTOM_ID_PATTERN) == "invalid_request_error"


def test_gemini_limits() -> None:
    p = get_profile("gemini")
    # inline under 20 MB, a file up to 2 GB (decimal: the smaller reading of both)
    assert (p.max_inline_bytes, p.max_file_bytes) == (20_000_000, 2_000_000_000)
    assert p.max_embedding_inputs is None
    assert p.endpoints == frozenset({Endpoint.GENERATE_CONTENT})
    assert p.translated_endpoints == frozenset({Endpoint.CHAT_COMPLETIONS, Endpoint.RESPONSES})
    assert not p.supports(Endpoint.MESSAGES)
    assert not p.supports(Endpoint.CHAT_COMPLETIONS)
    # the create url names the model: one model per batch
    assert p.single_model_per_file
    assert p.endpoint_from_file
    assert not p.model_is_deployment
    assert p.completion_windows == ()
    # keys are free-form strings: no pattern
    assert p.custom_id_pattern is None
    assert p.custom_id_fits("review:42.a/é")
    assert not p.max_queued_requests
    assert p.code(Rule.DUPLICATE_CUSTOM_ID) == "INVALID_ARGUMENT"
    assert p.code(Rule.FILE_TOO_LARGE) == "file_too_large"


def test_gemini_has_no_count_limit_that_binds_before_bytes() -> None:
    p = get_profile("gemini")
    assert p.min_files(1_000_000, 10 * MB) == 1
    assert p.min_files(10, 2_000_000_001) == 2
    assert p.max_requests * 100 >= p.max_file_bytes


def test_only_gemini_has_an_inline_limit() -> None:
    assert {n for n, p in PROVIDERS.items() if p.max_inline_bytes is not None} == {"gemini"}


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_openai_shaped_profiles_refuse_messages(provider: str) -> None:
    p = get_profile(provider)
    assert not p.supports(Endpoint.MESSAGES)
    assert not p.supports(Endpoint.GENERATE_CONTENT)
    assert not p.translated_endpoints
    assert p.custom_id_pattern is None
    assert p.custom_id_fits("review:42.a")
    assert not p.max_queued_requests


@pytest.mark.parametrize(
    ("custom_id", "fits"),
    [
        ("r1", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("review-42_a", True),
        ("review:42.a", False),
        ("{6f1c}", False),
        ("r1\n", False),
        ("é", False),
    ],
)
def test_anthropic_custom_id_pattern(custom_id: str, fits: bool) -> None:
    assert get_profile("anthropic").custom_id_fits(custom_id) is fits


def test_get_profile_is_case_insensitive_and_passes_profiles_through() -> None:
    p = get_profile("OpenAI")
    assert get_profile(p) is p


def test_profiles_are_frozen_and_table_read_only() -> None:
    p = PROVIDERS["openai"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_requests = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        PROVIDERS["x"] = p  # type: ignore[index]
    assert isinstance(p, ProviderProfile)


@pytest.mark.parametrize(
    ("requests", "size", "inputs", "openai", "azure"),
    [
        (0, 0, 0, 1, 1),
        (50_000, 10, 0, 1, 1),
        (50_001, 10, 0, 2, 1),
        (100_001, 10, 0, 3, 2),
        (10, 200 * MB + 1, 0, 2, 2),
        (10, 10, 120_000, 3, 1),
    ],
)
def test_min_files(requests: int, size: int, inputs: int, openai: int, azure: int) -> None:
    assert PROVIDERS["openai"].min_files(requests, size, inputs) == openai
    assert PROVIDERS["azure"].min_files(requests, size, inputs) == azure


def test_anthropic_min_batches() -> None:
    p = PROVIDERS["anthropic"]
    assert p.min_files(100_000, 256 * MB) == 1
    assert p.min_files(100_001, 10) == 2
    assert p.min_files(10, 256 * MB + 1) == 2
