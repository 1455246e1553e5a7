"""A responder that forwards each request to an OpenAI-compatible server
(a local model server, a proxy, or the real API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr
from yarl import URL

from .base import ResponderConfig, ResponderError, RespondRequest, RespondResult
from .errors import error_result
from .fake import endpoint_path
from .prompt import prompt_of
from .tokens import estimate_tokens, output_text, usage_tokens

__all__ = ["ForwardResponder"]


class ForwardResponder:
    """POSTs each body to ``base_url`` + the endpoint path and passes the
    status and JSON body through.

    ``base_url`` is an OpenAI-style base URL including its version prefix
    (``http://127.0.0.1:8000/v1``). Tokens come from the answer's ``usage``
    (estimated when it has none). Network failures answer 502 (504 on
    timeout) with a ``server_error`` body instead of raising. The API key is
    sent as a bearer token and never shown in reprs, logs or error messages.
    The session is created on first use, inside the running loop; ``aclose``
    closes it (a session passed in by the caller is left open).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: SecretStr | str | None = None,
        timeout_s: float = 60.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ResponderError(f"responder.forward_url must be an http(s) URL, got {base_url!r}")
        self._key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._base = base_url.rstrip("/")
        url = URL(self._base)
        if url.user or url.password:
            # Credentials in the URL are shown nowhere; with an API key the
            # bearer token wins (aiohttp refuses both at once).
            self._display = str(url.with_user(None))
            if self._key is not None:
                self._base = self._display
        else:
            self._display = self._base
        self._timeout = timeout_s
        self._session = session
        self._owns_session = session is None

    @classmethod
    def from_config(cls, config: ResponderConfig) -> ForwardResponder:
        """Build from ``forward_url``/``forward_api_key``/``forward_timeout_s``."""
        if config.forward_url is None:
            raise ResponderError("responder.kind is 'forward' but responder.forward_url is not set")
        return cls(
            config.forward_url, api_key=config.forward_api_key, timeout_s=config.forward_timeout_s
        )

    def __repr__(self) -> str:
        key = "'**********'" if self._key is not None else "None"
        return f"ForwardResponder(base_url={self._display!r}, api_key={key})"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        return headers

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
            self._owns_session = True
        return self._session

    async def respond(self, request: RespondRequest) -> RespondResult:
        path = endpoint_path(request.url)
        payload = orjson.dumps(_plain(request.body))
        try:
            async with self._get_session().post(
                self._base + path, data=payload, headers=self._headers()
            ) as answer:
                raw = await answer.read()
                status = answer.status
        except TimeoutError:
            return error_result(
                504,
                f"The forward target {self._display} did not answer within {self._timeout:g} s.",
                type="server_error",
            )
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return error_result(
                502,
                f"Could not reach the forward target {self._display} ({type(exc).__name__}).",
                type="server_error",
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return error_result(
                502,
                f"The forward target {self._display} answered HTTP {status} without a JSON "
                "object body.",
                type="server_error",
            )
        if status != 200:
            return RespondResult(status, body)
        counts = usage_tokens(body)
        if counts is not None:
            return RespondResult(status, body, *counts)
        request_body: object = request.body
        prompt = prompt_of(path, request_body)[1] if isinstance(request_body, Mapping) else 0
        return RespondResult(
            status, body, input_tokens=prompt, output_tokens=estimate_tokens(output_text(body))
        )

    async def aclose(self) -> None:
        """Close the HTTP session if this responder opened it."""
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
        self._session = None


def _plain(value: Any) -> Any:
    """Mappings (possibly read-only views) as plain dicts, for orjson."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
