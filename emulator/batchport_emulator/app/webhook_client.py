"""The HTTP client webhook deliveries go out through (the dispatcher's ``post``)."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from batchport_emulator.webhooks import SendError


class WebhookPoster:
    """POSTs with one lazily opened session; no proxies from the environment, no redirects."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> int:
        """The answer's status; raises :class:`SendError` when no answer came."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=False)
        try:
            async with self._session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SendError(type(exc).__name__) from None

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
