"""Azure configuration pieces: deployments, endpoints, Microsoft Entra ID tokens."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batchport.backends._env import pairs_from_env
from batchport.errors import ConfigError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

__all__ = [
    "ENTRA_SCOPE",
    "Deployment",
    "TokenProvider",
    "base_endpoint",
    "default_credential",
    "env",
    "env_deployments",
    "to_deployments",
    "token_provider",
]

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
INSTALL_HINT = "pip install 'batchport[azure]'"


@dataclass(frozen=True, slots=True)
class Deployment:
    """An Azure batch deployment a model name maps to.

    ``enqueued_token_limit`` is the deployment's enqueued-token quota (input tokens of
    unfinished batches; None: not limited by the client). With ``dynamic_quota`` on,
    the service may accept work above it; the client then submits freely and relies
    on backing off when refused.
    """

    name: str
    enqueued_token_limit: int | None = None
    dynamic_quota: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("a deployment name must not be empty")
        if self.enqueued_token_limit is not None and self.enqueued_token_limit < 1:
            raise ConfigError(f"deployment {self.name!r}: enqueued_token_limit must be >= 1")


class TokenProvider:
    """Wraps an async bearer-token provider, remembering recent tokens so they can be
    scrubbed from error messages. Never shows a token in its repr."""

    def __init__(self, inner: Callable[[], Awaitable[str]]) -> None:
        self._inner = inner
        self.recent: deque[str] = deque(maxlen=4)

    async def __call__(self) -> str:
        token = await self._inner()
        if token and token not in self.recent:
            self.recent.append(token)
        return token

    def __repr__(self) -> str:
        return "<Entra ID token provider>"


def env(*names: str) -> str | None:
    """The first of these environment variables that is set and not blank."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def base_endpoint(endpoint: str) -> str:
    """``https://res.openai.azure.com/openai/v1/`` -> ``https://res.openai.azure.com``."""
    url = endpoint.strip().rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        url = url.removesuffix(suffix)
    return url


def to_deployments(
    mapping: Mapping[str, str | Deployment | Mapping[str, Any]] | None,
) -> dict[str, Deployment]:
    """Model name -> :class:`Deployment`, from names, deployments, or their fields as a
    mapping (``{"name": ..., "enqueued_token_limit": ...}``, as a run records them)."""
    out: dict[str, Deployment] = {}
    for model, dep in (mapping or {}).items():
        if isinstance(dep, str):
            dep = Deployment(dep)
        elif isinstance(dep, Mapping):
            dep = Deployment(**dep)
        if not isinstance(dep, Deployment):
            raise ConfigError(f"deployment for {model!r} must be a name or a Deployment")
        out[model] = dep
    return out


def env_deployments() -> dict[str, str]:
    """``AZURE_OPENAI_DEPLOYMENTS='model=deployment,...'`` as a mapping (empty if unset).

    Raises :class:`ConfigError` for an entry that is not ``model=deployment``."""
    return pairs_from_env("AZURE_OPENAI_DEPLOYMENTS", "model=deployment")


def default_credential() -> AsyncTokenCredential:
    """A ``DefaultAzureCredential``; :class:`ConfigError` with the install hint when
    azure-identity is missing."""
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError as exc:
        raise ConfigError(
            "backend 'azure' has no API key (api_key= or AZURE_OPENAI_API_KEY) and Microsoft "
            f"Entra ID needs the optional dependency 'azure-identity': {INSTALL_HINT}"
        ) from exc
    return DefaultAzureCredential()


def token_provider(credential: AsyncTokenCredential, scope: str) -> TokenProvider:
    """A bearer-token provider for ``scope`` on ``credential``."""
    try:
        from azure.identity.aio import get_bearer_token_provider
    except ImportError as exc:
        raise ConfigError(
            f"Microsoft Entra ID auth needs the optional dependency 'azure-identity': "
            f"{INSTALL_HINT}"
        ) from exc
    return TokenProvider(get_bearer_token_provider(credential, scope))
