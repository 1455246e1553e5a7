"""Azure-only request checks: the ``api-version`` query and Azure's 404 for unknown paths.

Runs inside :func:`~batchport_emulator.app.middleware.api_middleware` (after auth), so
its :class:`ApiError` s are rendered as Azure error bodies.

- ``/openai/...`` needs an ``api-version`` among ``azure.api_versions``;
- ``/openai/v1/...`` takes none, or ``v1``/``preview``/``latest``;
- anything else, and any unknown path under ``/openai`` (such as files or batches under
  ``/openai/deployments/{name}/``), is 404 ``Resource not found``.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from batchport_emulator.app.keys import DIALECT, STATE
from batchport_emulator.azure.config import V1_API_VERSIONS
from batchport_emulator.dialects.azure import resource_not_found


def api_version_ok(path: str, version: str | None, accepted: list[str]) -> bool:
    if path == "/openai/v1" or path.startswith("/openai/v1/"):
        return version is None or version in V1_API_VERSIONS
    return version is not None and version in accepted


@web.middleware
async def azure_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.get(DIALECT) != "azure":
        return await handler(request)
    accepted = request.app[STATE].config.azure.api_versions
    if not api_version_ok(request.path, request.query.get("api-version"), accepted):
        raise resource_not_found()
    try:
        return await handler(request)
    except web.HTTPNotFound:
        raise resource_not_found() from None
