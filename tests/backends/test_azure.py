"""AzureBackend without a server: configuration, request translation, quota, secrets."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from hypothesis import given
from hypothesis import strategies as st

from batchport.backends import get_backend
from batchport.backends.azure import DEFAULT_API_VERSION, AzureBackend, Deployment
from batchport.backends.models import QuotaLimit
from batchport.errors import ConfigError, InputError
from batchport.requests import Request

KEY = "azk-FAKE-0123456789abcdef"
ENDPOINT = "https://res.openai.azure.com"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_API_VERSION",
        "OPENAI_API_VERSION",
        "AZURE_OPENAI_AD_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


class FakeCredential:
    """Structurally an azure.identity.aio credential; records scopes and closing."""

    def __init__(self, token: str = "entra-FAKE-token-abcdef123456") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []
        self.closed = 0

    async def get_token(self, *scopes: str, **kw: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed += 1


def chat(
    custom_id: str = "r1", model: str = "gpt-4o", url: str = "/v1/chat/completions"
) -> Request:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    return Request(custom_id=custom_id, url=url, body=body)


async def test_defaults_and_repr_without_secret() -> None:
    async with AzureBackend(endpoint=ENDPOINT + "/openai/", api_key=KEY) as be:
        assert be.endpoint == ENDPOINT
        assert (be.api_version, be.use_v1) == (DEFAULT_API_VERSION, False)
        assert str(be.client.base_url) == ENDPOINT + "/openai/"
        text = repr(be)
        assert KEY not in text and "api-key" in text


async def test_environment_supplies_endpoint_key_and_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", ENDPOINT)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-03-01-preview")
    async with AzureBackend() as be:
        assert be.api_version == "2025-03-01-preview"
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2025-04-01-preview")  # the specific one wins
    async with get_backend("azure") as be:
        assert isinstance(be, AzureBackend)
        assert be.api_version == "2025-04-01-preview"


@pytest.mark.parametrize("how", [{"api_version": "v1"}, {"use_v1": True}])
async def test_v1_selects_the_openai_v1_base_url(how: dict[str, Any]) -> None:
    async with AzureBackend(endpoint=ENDPOINT, api_key=KEY, **how) as be:
        assert be.use_v1
        assert str(be.client.base_url) == ENDPOINT + "/openai/v1/"


def test_missing_endpoint_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT"):
        AzureBackend(api_key=KEY)


def test_key_and_credential_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="not both"):
        AzureBackend(endpoint=ENDPOINT, api_key=KEY, credential=FakeCredential())  # type: ignore[arg-type]


def test_missing_azure_identity_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)
    with pytest.raises(ConfigError, match=r"pip install 'batchport\[azure\]'"):
        AzureBackend(endpoint=ENDPOINT)


async def test_default_credential_is_created_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.identity.aio as aio

    made: list[FakeCredential] = []

    def factory() -> FakeCredential:
        made.append(FakeCredential())
        return made[-1]

    monkeypatch.setattr(aio, "DefaultAzureCredential", factory)
    be = AzureBackend(endpoint=ENDPOINT)
    assert "entra-id" in repr(be)
    await be.aclose()
    await be.aclose()
    assert len(made) == 1 and made[0].closed == 1


async def test_a_given_credential_is_left_open() -> None:
    cred = FakeCredential()
    async with AzureBackend(endpoint=ENDPOINT, credential=cred):  # type: ignore[arg-type]
        pass
    assert cred.closed == 0


# -- request translation ---------------------------------------------------------------


def backend(**kw: Any) -> AzureBackend:
    return AzureBackend(endpoint=ENDPOINT, api_key=KEY, **kw)


async def test_model_maps_to_deployment_and_url_to_the_classic_form() -> None:
    async with backend(deployments={"gpt-4o": "gpt-4o-batch"}) as be:
        req = chat("row-7")
        out = be.prepare_request(req)
        assert out.custom_id == "row-7"
        assert out.url == "/chat/completions"
        assert out.body["model"] == "gpt-4o-batch"
        assert out.body["messages"] == req.body["messages"]
        assert req.body["model"] == "gpt-4o"  # the caller's body is not modified


async def test_v1_keeps_the_v1_url_form_and_maps_responses() -> None:
    async with backend(api_version="v1", deployments={"gpt-4o": "dep"}) as be:
        out = be.prepare_request(chat(url="/chat/completions"))
        assert (out.url, out.body["model"]) == ("/v1/chat/completions", "dep")
        resp = Request(custom_id="x", url="/v1/responses", body={"model": "gpt-4o", "input": "hi"})
        assert be.prepare_request(resp).url == "/v1/responses"
        assert be.endpoint_path("/v1/chat/completions") == "/v1/chat/completions"


async def test_without_deployments_requests_pass_through_unchanged() -> None:
    async with backend(api_version="v1") as be:
        req = chat(model="my-deployment")
        assert be.prepare_request(req) is req


async def test_embeddings_are_refused_with_a_named_rule() -> None:
    async with backend() as be:
        req = Request(custom_id="e1", url="/v1/embeddings", body={"model": "m", "input": "x"})
        with pytest.raises(InputError, match="embeddings are not supported") as info:
            be.prepare_request(req)
        assert info.value.rule == "unsupported_endpoint"
        assert "e1" in str(info.value)


async def test_unmapped_model_is_refused_but_a_deployment_name_passes() -> None:
    async with backend(deployments={"gpt-4o": Deployment("gpt-4o-batch")}) as be:
        with pytest.raises(InputError) as info:
            be.prepare_request(chat(model="gpt-4.1"))
        assert info.value.rule == "model_not_found"
        assert be.prepare_request(chat(model="gpt-4o-batch")).body["model"] == "gpt-4o-batch"


async def test_quota_limits_are_keyed_by_deployment() -> None:
    deployments: dict[str, str | Deployment] = {
        "gpt-4o": Deployment("gpt-4o-batch", enqueued_token_limit=30_000),
        "gpt-4o-mini": Deployment("mini-batch", enqueued_token_limit=90_000, dynamic_quota=True),
        "gpt-4.1": "no-limit-batch",
    }
    async with backend(deployments=deployments) as be:
        assert be.quota_limits() == {
            "gpt-4o-batch": QuotaLimit(30_000, False),
            "mini-batch": QuotaLimit(90_000, True),
        }


def test_deployment_rejects_nonsense() -> None:
    with pytest.raises(ConfigError):
        Deployment("")
    with pytest.raises(ConfigError):
        Deployment("d", enqueued_token_limit=0)


_ids = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s)


@given(
    custom_id=_ids,
    model=st.sampled_from(["gpt-4o", "gpt-4o-mini", "gpt-4o-batch"]),
    url=st.sampled_from(
        ["/v1/chat/completions", "/chat/completions", "/v1/responses", "/responses"]
    ),
    v1=st.booleans(),
)
def test_translation_keeps_ids_and_targets_one_url_form(
    custom_id: str, model: str, url: str, v1: bool
) -> None:
    be = AzureBackend.__new__(AzureBackend)  # translation needs no client
    be.use_v1 = v1
    be.deployments = {"gpt-4o": Deployment("gpt-4o-batch"), "gpt-4o-mini": Deployment("mini")}
    be._by_deployment = {d.name: d for d in be.deployments.values()}
    out = be.prepare_request(Request(custom_id=custom_id, url=url, body={"model": model}))
    assert out.custom_id == custom_id
    assert out.url.startswith("/v1/") == v1
    assert out.url.removeprefix("/v1") == url.removeprefix("/v1")
    assert out.body["model"] in {"gpt-4o-batch", "mini"}
    assert be.prepare_request(out).body == out.body  # idempotent
