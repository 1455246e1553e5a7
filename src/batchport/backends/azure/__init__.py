"""The ``azure`` backend: Azure OpenAI global batch through the official SDK.

It is the OpenAI backend with these translations on top:

- **client**: ``AsyncAzureOpenAI`` with an ``api-version`` (classic API, default
  ``2024-10-21``) or ``AsyncOpenAI`` on ``{endpoint}/openai/v1/`` (``api_version="v1"``
  or ``use_v1=True``);
- **auth**: an API key, or Microsoft Entra ID through an ``azure.identity.aio``
  credential and a bearer-token provider for the Cognitive Services scope;
- **requests**: :meth:`AzureBackend.prepare_request` maps ``body.model`` to the
  deployment name and the url to the form the chosen API uses
  (``/chat/completions`` classic, ``/v1/chat/completions`` on v1); ``custom_id``
  never changes, so results come back under the caller's ids;
- **files**: an upload counts once Azure has ``processed`` it, because Azure refuses
  a batch on a ``pending`` file;
- **statuses**: Azure's map (:mod:`.status`) also knows ``canceling``/``canceled``.

Deployments can carry an enqueued-token limit and Azure's dynamic-quota flag;
:meth:`AzureBackend.quota_limits` hands them to the runner. ``token_limit_exceeded``
in either form (a 400 at create, or a batch failed after validation) comes back as a
job with :attr:`~batchport.backends.models.Job.requeue` set.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI

from batchport.backends.azure.auth import (
    ENTRA_SCOPE,
    Deployment,
    TokenProvider,
    base_endpoint,
    default_credential,
    env,
    env_deployments,
    to_deployments,
    token_provider,
)
from batchport.backends.azure.status import STATUS_MAP
from batchport.backends.base import RealtimeAccess
from batchport.backends.files import FileBackend, FileRef
from batchport.backends.models import Job, JobStatus, QuotaLimit, ShardSpec
from batchport.backends.openai import OpenAIBackend
from batchport.errors import BackendError, BadRequestError, ConfigError, InputError
from batchport.logs import redact_text, redact_url
from batchport.requests import Endpoint, Request

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

__all__ = [
    "DEFAULT_API_VERSION",
    "ENTRA_SCOPE",
    "AzureBackend",
    "Deployment",
]

DEFAULT_API_VERSION = "2024-10-21"
_V1_VERSIONS = frozenset({"v1", "latest", "preview"})
_SUPPORTED = (Endpoint.CHAT_COMPLETIONS, Endpoint.RESPONSES)
Sleep = Callable[[float], Awaitable[None]]


class AzureBackend(OpenAIBackend):
    """Batches on Azure OpenAI (GlobalBatch and DataZoneBatch deployments).

    Pass a ready ``client`` (``AsyncAzureOpenAI``, or ``AsyncOpenAI`` on the
    ``/openai/v1/`` base URL; it is never closed here, and a copy with SDK retries off
    is used), or let the backend build one. ``endpoint`` defaults to
    ``AZURE_OPENAI_ENDPOINT``; ``api_key`` to ``AZURE_OPENAI_API_KEY``; ``api_version``
    to ``AZURE_OPENAI_API_VERSION``, then ``OPENAI_API_VERSION``, then ``2024-10-21``.
    ``api_version="v1"`` (or ``use_v1=True``) selects the v1 API. Without a key,
    ``credential`` (an ``azure.identity.aio`` credential) authenticates through
    Microsoft Entra ID for ``token_scope``; with neither, a ``DefaultAzureCredential``
    is created and closed with the backend.

    ``deployments`` maps model names to deployment names or :class:`Deployment` s.
    Uploads wait for ``processed`` by polling with a backoff from
    ``file_poll_interval_s`` up to ``file_poll_max_s`` seconds, at most
    ``file_processed_timeout_s`` seconds in all; ``sleep`` is the wait used (inject
    one in tests). ``max_retries`` (0: the runner retries) and ``timeout`` (seconds)
    go to a built SDK client.

    Raises :class:`ConfigError` when no endpoint is known, when both a key and a
    credential are given, or when Entra ID is needed and azure-identity is missing.
    """

    name: ClassVar[str] = "azure"
    provider: ClassVar[str] = "azure"
    STATUS_MAP: ClassVar[Mapping[str, JobStatus]] = STATUS_MAP

    _owns_credential = False

    def __init__(
        self,
        client: AsyncAzureOpenAI | AsyncOpenAI | None = None,
        *,
        endpoint: str | None = None,
        api_key: str | None = None,
        api_version: str | None = None,
        use_v1: bool | None = None,
        credential: AsyncTokenCredential | None = None,
        token_scope: str = ENTRA_SCOPE,
        deployments: Mapping[str, str | Deployment | Mapping[str, Any]] | None = None,
        file_processed_timeout_s: float = 600.0,
        file_poll_interval_s: float = 1.0,
        file_poll_max_s: float = 15.0,
        sleep: Sleep | None = None,
        max_retries: int = 0,
        timeout: float | None = None,
    ) -> None:
        if deployments is None:
            deployments = env_deployments()
        self.deployments = to_deployments(deployments)
        self._by_deployment = {d.name: d for d in self.deployments.values()}
        self.file_processed_timeout_s = file_processed_timeout_s
        self.file_poll_interval_s = file_poll_interval_s
        self.file_poll_max_s = file_poll_max_s
        self._sleep: Sleep = sleep or asyncio.sleep
        self._credential: AsyncTokenCredential | None = None
        self._provider: TokenProvider | None = None
        self._key: str | None = None
        if client is not None:
            self.use_v1 = not isinstance(client, AsyncAzureOpenAI) if use_v1 is None else use_v1
            self.api_version = "v1" if self.use_v1 else str(getattr(client, "_api_version", ""))
            self.endpoint = base_endpoint(str(client.base_url))
            super().__init__(client)
            return
        self._settle_api(endpoint, api_version, use_v1)
        self._key = api_key if api_key is not None else env("AZURE_OPENAI_API_KEY")
        if self._key and credential is not None:
            raise ConfigError("give either api_key or credential for Azure, not both")
        if not self._key:
            self._owns_credential = credential is None
            self._credential = credential if credential is not None else default_credential()
            self._provider = token_provider(self._credential, token_scope)
        FileBackend.__init__(self, self._build_client(max_retries, timeout), owns_client=True)

    def _settle_api(
        self, endpoint: str | None, api_version: str | None, use_v1: bool | None
    ) -> None:
        version = api_version or env("AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION")
        version = version or DEFAULT_API_VERSION
        self.use_v1 = bool(use_v1) or version in _V1_VERSIONS
        self.api_version = "v1" if self.use_v1 else version
        raw_endpoint = endpoint or env("AZURE_OPENAI_ENDPOINT")
        if not raw_endpoint:
            raise ConfigError(
                "no Azure OpenAI endpoint: pass endpoint= or set AZURE_OPENAI_ENDPOINT "
                "(https://<resource>.openai.azure.com)"
            )
        self.endpoint = base_endpoint(raw_endpoint)

    def _build_client(self, max_retries: int, timeout: float | None) -> AsyncOpenAI:
        kwargs: dict[str, Any] = {"max_retries": max_retries}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            if self.use_v1:
                auth: Any = self._key if self._key else self._provider
                return AsyncOpenAI(base_url=f"{self.endpoint}/openai/v1/", api_key=auth, **kwargs)
            if self._key:
                kwargs["api_key"] = self._key
            else:
                kwargs["azure_ad_token_provider"] = self._provider
            return AsyncAzureOpenAI(
                azure_endpoint=self.endpoint, api_version=self.api_version, **kwargs
            )
        except openai.OpenAIError as exc:  # never echo the SDK text: it may name a key
            raise ConfigError(
                f"cannot build the Azure OpenAI client: {type(exc).__name__}"
            ) from None

    def __repr__(self) -> str:
        auth = "api-key" if self._key else ("entra-id" if self._provider else "client")
        return (
            f"AzureBackend(endpoint={redact_url(self.endpoint)!r}, "
            f"api_version={self.api_version!r}, "
            f"auth={auth!r}, deployments={sorted(self._by_deployment)!r})"
        )

    def _secrets(self) -> tuple[str, ...]:
        found = list(super()._secrets())
        if self._key:
            found.append(self._key)
        if self._provider is not None:
            found.extend(self._provider.recent)
        return tuple(found)

    # -- translation hooks ----------------------------------------------------------------
    def endpoint_path(self, endpoint: Endpoint | str) -> str:
        """``endpoint`` in the form the chosen API accepts: ``/chat/completions`` on the
        classic API, ``/v1/chat/completions`` on v1. Unknown strings pass unchanged."""
        found = Endpoint.from_url(str(endpoint), allow_unversioned=True)
        if found is None:
            return str(endpoint)
        return found.value if self.use_v1 else "/" + found.short_name

    def prepare_request(self, request: Request) -> Request:
        """Map ``body.model`` to its deployment and the url to this API's form.

        Raises :class:`InputError` with rule ``unsupported_endpoint`` for endpoints Azure
        batch does not run (embeddings among them), and ``model_not_found`` when
        ``deployments`` is set and names neither the model nor a deployment called so.
        """
        endpoint = request.endpoint
        if endpoint not in _SUPPORTED:
            what = "embeddings are" if endpoint is Endpoint.EMBEDDINGS else "this endpoint is"
            raise InputError(
                f"custom_id {request.custom_id!r}: url {request.url!r}: {what} not supported "
                "by Azure OpenAI global batch (only chat completions and responses)",
                rule="unsupported_endpoint",
            )
        body = request.body
        model = request.model
        if model is not None and self.deployments:
            dep = self.deployments.get(model) or self._by_deployment.get(model)
            if dep is None:
                known = ", ".join(sorted(self.deployments))
                raise InputError(
                    f"custom_id {request.custom_id!r}: model {model!r} has no Azure deployment; "
                    f"add it to deployments= (mapped models: {known})",
                    rule="model_not_found",
                )
            if dep.name != model:
                body = {**body, "model": dep.name}
        url = self.endpoint_path(endpoint)
        if url == request.url and body is request.body:
            return request
        return Request(custom_id=request.custom_id, method=request.method, url=url, body=body)

    async def realtime(self) -> RealtimeAccess | None:
        """None: a GlobalBatch deployment serves no synchronous calls, and which
        standard deployment may stand in for it is the caller's choice to make."""
        return None

    def settings(self) -> Mapping[str, Any]:
        """Endpoint, API version and deployments (never a key or a token: the endpoint
        keeps no password and no credential parameter such as ``?api-key=``)."""
        deployments = {
            model: {"name": d.name, "enqueued_token_limit": d.enqueued_token_limit,
                    "dynamic_quota": d.dynamic_quota}
            for model, d in self.deployments.items()
        }  # fmt: skip
        return {
            "endpoint": redact_text(redact_url(self.endpoint, drop=True)),
            "api_version": self.api_version,
            "deployments": deployments,
        }

    def quota_limits(self) -> Mapping[str, QuotaLimit]:
        """Enqueued-token limits by deployment name (the model name after translation)."""
        return {
            d.name: QuotaLimit(d.enqueued_token_limit, d.dynamic_quota)
            for d in self._by_deployment.values()
            if d.enqueued_token_limit is not None
        }

    # -- files ------------------------------------------------------------------------
    async def upload_file(self, spec: ShardSpec) -> FileRef:
        """Upload (streamed) and wait until Azure has ``processed`` the file.

        Raises :class:`BackendError` when processing fails (status ``error``) or does
        not finish within ``file_processed_timeout_s``.
        """
        return await self.wait_processed(await super().upload_file(spec))

    async def wait_processed(self, ref: FileRef | str) -> FileRef:
        """Poll a file until its status is ``processed`` (bounded backoff, injected sleep)."""
        if isinstance(ref, str):
            ref = await self.retrieve_file(ref)
        waited, delay = 0.0, self.file_poll_interval_s
        while True:
            status = (ref.status or "processed").lower()
            if status == "processed":
                return ref
            if status in ("error", "deleting", "deleted"):
                detail = ref.raw.get("status_details") or "no details given"
                raise BackendError(
                    f"file {ref.id} ({ref.filename}) could not be processed: status "
                    f"{status!r}, {detail}",
                    provider=self.provider,
                    code="file_not_processed",
                )
            if waited >= self.file_processed_timeout_s:
                raise BackendError(
                    f"file {ref.id} ({ref.filename}) is still {status!r} after {waited:.0f}s; "
                    "Azure has not finished processing the upload",
                    provider=self.provider,
                    code="file_not_processed",
                    retryable=True,
                )
            delay = min(delay, self.file_processed_timeout_s - waited)
            await self._sleep(delay)
            waited += delay
            delay = min(self.file_poll_max_s, delay * 2)
            ref = await self.retrieve_file(ref.id)

    # -- batches ----------------------------------------------------------------------
    async def create_batch(self, spec: ShardSpec, file_id: str) -> Job:
        """Create the batch, its endpoint sent in this API's url form.

        A file found still ``pending`` (an upload adopted after a crash, say) is waited
        for once and the create repeated. ``token_limit_exceeded`` raises
        :class:`~batchport.errors.QuotaExceededError` (:meth:`submit` turns it into a
        requeue signal).
        """
        spec = dataclasses.replace(spec, endpoint=self.endpoint_path(spec.endpoint))
        try:
            return await super().create_batch(spec, file_id)
        except BadRequestError as exc:
            if "'pending' state" not in exc.message:
                raise
        await self.wait_processed(file_id)
        return await super().create_batch(spec, file_id)

    async def aclose(self) -> None:
        """Close the SDK client and, if this backend created it, the credential."""
        if self._closed:
            return
        try:
            await super().aclose()
        finally:
            credential, self._credential = self._credential, None
            if credential is not None and self._owns_credential:
                await credential.close()
