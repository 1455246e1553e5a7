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
    assert p.endpoints == frozenset(Endpoint)
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
    with pytest.raises(ConfigError, match="azure, openai"):
        get_profile("anthropic")


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
