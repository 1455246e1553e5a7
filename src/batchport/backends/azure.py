"""The ``azure`` backend: Azure OpenAI global batch through the official SDK.

It is the OpenAI backend with four translations on top:

- **client**: ``AsyncAzureOpenAI`` with an ``api-version`` (classic API, default
  ``2024-10-21``) or ``AsyncOpenAI`` on ``{endpoint}/openai/v1/`` (``api_version="v1"``
  or ``use_v1=True``);
- **auth**: an API key, or Microsoft Entra ID through an ``azure.identity.aio``
  credential and a bearer-token provider for the Cognitive Services scope;
- **requests**: :meth:`AzureBackend.prepare_request` maps ``body.model`` to the
  deployment name and the url to the form the chosen API uses
  (``/chat/completions`` classic, ``/v1/chat/completions`` on v1); ``custom_id``
  never changes, so results come back under the caller's ids;
- **files**: :meth:`AzureBackend.upload_file` returns only once the upload is
  ``processed``, because Azure refuses a batch on a ``pending`` file.

Deployments can carry an enqueued-token limit and Azure's dynamic-quota flag;
:meth:`AzureBackend.quota_limits` hands them to the runner, which keeps the tokens in
flight under the limit and backs off on ``token_limit_exceeded``.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI

from batchport.backends._translate import translate_error
from batchport.backends.base import BatchJob, FileRef, QuotaLimit
from batchport.backends.openai import OpenAIBackend
from batchport.errors import BackendError, BadRequestError, ConfigError, InputError
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
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
_V1_VERSIONS = frozenset({"v1", "latest", "preview"})
_SUPPORTED = (Endpoint.CHAT_COMPLETIONS, Endpoint.RESPONSES)
_INSTALL_HINT = "pip install 'batchport[azure]'"
Sleep = Callable[[float], Awaitable[None]]


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


class _TokenProvider:
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


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _base_endpoint(endpoint: str) -> str:
    """``https://res.openai.azure.com/openai/v1/`` -> ``https://res.openai.azure.com``."""
    url = endpoint.strip().rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        url = url.removesuffix(suffix)
    return url


def _deployments(mapping: Mapping[str, str | Deployment] | None) -> dict[str, Deployment]:
    out: dict[str, Deployment] = {}
    for model, dep in (mapping or {}).items():
        if isinstance(dep, str):
            dep = Deployment(dep)
        if not isinstance(dep, Deployment):
            raise ConfigError(f"deployment for {model!r} must be a name or a Deployment")
        out[model] = dep
    return out


def _default_credential() -> AsyncTokenCredential:
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError as exc:
        raise ConfigError(
            "backend 'azure' has no API key (api_key= or AZURE_OPENAI_API_KEY) and Microsoft "
            f"Entra ID needs the optional dependency 'azure-identity': {_INSTALL_HINT}"
        ) from exc
    return DefaultAzureCredential()


def _token_provider(credential: AsyncTokenCredential, scope: str) -> _TokenProvider:
    try:
        from azure.identity.aio import get_bearer_token_provider
    except ImportError as exc:
        raise ConfigError(
            f"Microsoft Entra ID auth needs the optional dependency 'azure-identity': "
            f"{_INSTALL_HINT}"
        ) from exc
    return _TokenProvider(get_bearer_token_provider(credential, scope))


class AzureBackend(OpenAIBackend):
    """Batches on Azure OpenAI (GlobalBatch and DataZoneBatch deployments).

    Pass a ready ``client`` (``AsyncAzureOpenAI``, or ``AsyncOpenAI`` on the
    ``/openai/v1/`` base URL; it is then never closed here), or let the backend build
    one. ``endpoint`` defaults to ``AZURE_OPENAI_ENDPOINT``; ``api_key`` to
    ``AZURE_OPENAI_API_KEY``; ``api_version`` to ``AZURE_OPENAI_API_VERSION``, then
    ``OPENAI_API_VERSION``, then ``2024-10-21``. ``api_version="v1"`` (or
    ``use_v1=True``) selects the v1 API. Without a key, ``credential`` (an
    ``azure.identity.aio`` credential) authenticates through Microsoft Entra ID for
    ``token_scope``; with neither, a ``DefaultAzureCredential`` is created and closed
    with the backend.

    ``deployments`` maps model names to deployment names or :class:`Deployment` s.
    Uploads wait for ``processed`` by polling with a backoff from
    ``file_poll_interval_s`` up to ``file_poll_max_s`` seconds, at most
    ``file_processed_timeout_s`` seconds in all; ``sleep`` is the wait used (inject
    one in tests). ``max_retries`` and ``timeout`` (seconds) go to the SDK client.

    Raises :class:`ConfigError` when no endpoint is known, when both a key and a
    credential are given, or when Entra ID is needed and azure-identity is missing.
    """

    name: ClassVar[str] = "azure"
    provider: ClassVar[str] = "azure"

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
        deployments: Mapping[str, str | Deployment] | None = None,
        file_processed_timeout_s: float = 600.0,
        file_poll_interval_s: float = 1.0,
        file_poll_max_s: float = 15.0,
        sleep: Sleep | None = None,
        max_retries: int = 2,
        timeout: float | None = None,
    ) -> None:
        self.deployments = _deployments(deployments)
        self._by_deployment = {d.name: d for d in self.deployments.values()}
        self.file_processed_timeout_s = file_processed_timeout_s
        self.file_poll_interval_s = file_poll_interval_s
        self.file_poll_max_s = file_poll_max_s
        self._sleep: Sleep = sleep or asyncio.sleep
        self._credential: AsyncTokenCredential | None = None
        self._provider: _TokenProvider | None = None
        self._key: str | None = None
        if client is not None:
            self.use_v1 = not isinstance(client, AsyncAzureOpenAI) if use_v1 is None else use_v1
            self.api_version = "v1" if self.use_v1 else str(getattr(client, "_api_version", ""))
            self.endpoint = _base_endpoint(str(client.base_url))
            super().__init__(client)
            return
        version = api_version or _env("AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION")
        version = version or DEFAULT_API_VERSION
        self.use_v1 = bool(use_v1) or version in _V1_VERSIONS
        self.api_version = "v1" if self.use_v1 else version
        raw_endpoint = endpoint or _env("AZURE_OPENAI_ENDPOINT")
        if not raw_endpoint:
            raise ConfigError(
                "no Azure OpenAI endpoint: pass endpoint= or set AZURE_OPENAI_ENDPOINT "
                "(https://<resource>.openai.azure.com)"
            )
        self.endpoint = _base_endpoint(raw_endpoint)
        self._key = api_key if api_key is not None else _env("AZURE_OPENAI_API_KEY")
        if self._key and credential is not None:
            raise ConfigError("give either api_key or credential for Azure, not both")
        if not self._key:
            self._owns_credential = credential is None
            self._credential = credential if credential is not None else _default_credential()
            self._provider = _token_provider(self._credential, token_scope)
        super().__init__(self._build_client(max_retries, timeout))
        self._owns_client = True

    _owns_credential = False

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
            f"AzureBackend(endpoint={self.endpoint!r}, api_version={self.api_version!r}, "
            f"auth={auth!r}, deployments={sorted(self._by_deployment)!r})"
        )

    def _secrets(self) -> tuple[str, ...]:
        found = list(super()._secrets())
        if self._key:
            found.append(self._key)
        if self._provider is not None:
            found.extend(self._provider.recent)
        return tuple(found)

    @contextmanager
    def _translating(self) -> Iterator[None]:
        # Secrets are read when an error happens, not before the call: an Entra token
        # is fetched during the request it authorizes.
        try:
            yield
        except openai.OpenAIError as exc:
            raise translate_error(exc, provider=self.provider, secrets=self._secrets()) from exc

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

    def quota_limits(self) -> Mapping[str, QuotaLimit]:
        """Enqueued-token limits by deployment name (the model name after translation)."""
        return {
            d.name: QuotaLimit(d.enqueued_token_limit, d.dynamic_quota)
            for d in self._by_deployment.values()
            if d.enqueued_token_limit is not None
        }

    # -- files ------------------------------------------------------------------------
    async def upload_file(self, path: Path, *, expires_after_s: int | None = None) -> FileRef:
        """Upload (streamed) and wait until Azure has ``processed`` the file.

        Raises :class:`BackendError` when processing fails (status ``error``) or does
        not finish within ``file_processed_timeout_s``.
        """
        ref = await super().upload_file(path, expires_after_s=expires_after_s)
        return await self.wait_processed(ref)

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
    async def create_batch(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        metadata: Mapping[str, str] | None = None,
        completion_window: str = "24h",
        output_expires_after_s: int | None = None,
    ) -> BatchJob:
        """Create a batch; ``endpoint`` in either url form is sent in this API's form.

        A file found still ``pending`` (an upload adopted after a crash, say) is waited
        for once and the create repeated. ``token_limit_exceeded`` raises
        :class:`~batchport.errors.QuotaExceededError`.
        """

        async def create() -> BatchJob:
            return await super(AzureBackend, self).create_batch(
                input_file_id=input_file_id,
                endpoint=self.endpoint_path(endpoint),
                metadata=metadata,
                completion_window=completion_window,
                output_expires_after_s=output_expires_after_s,
            )

        try:
            return await create()
        except BadRequestError as exc:
            if "'pending' state" not in exc.message:
                raise
        await self.wait_processed(input_file_id)
        return await create()

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
