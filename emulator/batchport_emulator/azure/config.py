"""The ``azure`` section of the emulator config: deployments, quota, auth, timing.

With no deployments configured every deployment name is accepted as a
``GlobalBatch`` deployment with a generous limit (:data:`QUICK_START_TOKEN_LIMIT`), so
a quick start needs no config at all.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DeploymentType = Literal["GlobalBatch", "DataZoneBatch", "Standard"]
BATCH_TYPES: frozenset[str] = frozenset({"GlobalBatch", "DataZoneBatch"})
QUICK_START_TOKEN_LIMIT = 5_000_000_000
# API versions that serve /openai/files and /openai/batches (reference section 1.3).
API_VERSIONS: tuple[str, ...] = (
    "2024-07-01-preview",
    "2024-10-21",
    "2025-03-01-preview",
    "2025-04-01-preview",
)
V1_API_VERSIONS: tuple[str, ...] = ("v1", "preview", "latest")
# The model version a deployment of each model serves by default (the ``model`` of its
# chat completions); Azure's batch samples show e.g. ``gpt-4o-2024-05-13``.
MODEL_VERSIONS: dict[str, str] = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AzureDeployment(_Model):
    """One model deployment of the emulated resource.

    ``enqueued_token_limit`` counts input tokens of batches submitted and not yet
    finished; ``dynamic_quota`` lets work above it through (see
    :attr:`AzureConfig.dynamic_quota_headroom`). ``version`` is the model version its
    chat completions name (default: the known version of ``model``).
    """

    name: str = Field(min_length=1, max_length=64)
    model: str = "gpt-4o-mini"
    type: DeploymentType = "GlobalBatch"
    enqueued_token_limit: int = Field(default=QUICK_START_TOKEN_LIMIT, ge=1)
    dynamic_quota: bool = False
    version: str | None = None

    def model_version(self) -> str:
        """``version`` when given, else the known version of ``model``, else ``model``."""
        return self.version or MODEL_VERSIONS.get(self.model, self.model)


class AzureConfig(_Model):
    """How the Azure dialect behaves.

    - ``deployments``: the resource's deployments; empty accepts any name.
    - ``api_versions``: ``api-version`` values served under ``/openai/``; anything
      else (or none) gets Azure's 404 "Resource not found".
    - ``bearer_validator``: how ``Authorization: Bearer`` tokens are checked:
      ``"auto"`` (the default: ``"jwt"`` when ``api_keys`` are configured, else
      ``"any"``), ``"any"`` (any non-empty token), ``"jwt"`` (an unexpired JWT whose ``aud`` is one
      of ``jwt_audiences``; the signature is not checked) or ``"module:callable"``
      taking the token and returning a bool. An accepted API key also passes as a
      bearer token (the v1 API's ``OpenAI(api_key=...)`` sends it that way).
    - ``token_limit_mode``: ``"fail_batch"`` counts a batch's tokens after validation
      and fails it with ``token_limit_exceeded``; ``"fail_fast"`` estimates them at
      create and answers 400 (Azure's fail-fast regions).
    - ``dynamic_quota_headroom``: with a deployment's ``dynamic_quota`` on, work is
      accepted up to ``limit * (1 + headroom)``.
    - ``file_processing_s`` / ``file_processing_polls``: an upload stays ``pending``
      until this much virtual time has passed *and* it was retrieved this many times;
      with neither set (the default) it is ``processed`` at once.
    - ``batch_expiry``: expire batches after ``batches.completion_window_s`` as OpenAI
      does; Azure does not expire them (off).
    """

    deployments: list[AzureDeployment] = Field(default_factory=list)
    api_versions: list[str] = Field(default_factory=lambda: list(API_VERSIONS))
    bearer_validator: str = "auto"
    jwt_audiences: list[str] = Field(
        default_factory=lambda: ["https://cognitiveservices.azure.com", "https://ai.azure.com"]
    )
    token_limit_mode: Literal["fail_batch", "fail_fast"] = "fail_batch"
    dynamic_quota_headroom: float = Field(default=0.5, ge=0)
    file_processing_s: float = Field(default=0.0, ge=0)
    file_processing_polls: int = Field(default=0, ge=0)
    max_files_without_expiry: int = Field(default=500, ge=1)
    max_files_with_expiry: int = Field(default=10_000, ge=1)
    max_requests_per_batch: int = Field(default=100_000, ge=1)
    batch_expiry: bool = False

    def deployment(self, name: str) -> AzureDeployment | None:
        """The deployment called ``name``; any name in quick-start mode (no deployments)."""
        if not self.deployments:
            return AzureDeployment(name=name[:64] or "default", model=_model_named_in(name))
        return next((d for d in self.deployments if d.name == name), None)


def _model_named_in(deployment: str) -> str:
    """Quick start: the known model a deployment's name starts with (``gpt-4o-batch`` ->
    ``gpt-4o``), else the default model."""
    known = [m for m in MODEL_VERSIONS if deployment == m or deployment.startswith(m + "-")]
    return max(known, key=len) if known else "gpt-4o-mini"
