"""Gemini under ``/v1``: the ``google-genai`` SDK's default API version.

The SDK (3.x) sends Developer-API calls to ``/v1/...`` unless told ``api_version``;
``/v1`` is also OpenAI's prefix, and some paths (``/v1/files/{id}``,
``/v1/batches/{id}``) exist in both. A request under ``/v1`` that authenticates the
Google way (``x-goog-api-key`` or ``?key=``, no ``Authorization`` header) is therefore
Gemini's: it is routed again as its ``/v1beta`` twin, before the dialect is picked.
OpenAI and Azure clients always send ``Authorization`` or ``api-key``, Anthropic's
``x-api-key``, so nothing they send is taken.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from batchport_emulator.dialects.gemini import PREFIX as GEMINI_PREFIX

V1 = "/v1/"


def gemini_twin(request: web.Request) -> str | None:
    """The ``/v1beta`` path a Google-authenticated ``/v1`` request stands for, or ``None``."""
    path = request.path
    if not path.startswith(V1) or "Authorization" in request.headers:
        return None
    if "x-goog-api-key" not in request.headers and "key" not in request.query:
        return None
    return GEMINI_PREFIX + path[len(V1) - 1 :]


async def rerouted(request: web.Request, path: str) -> tuple[web.Request, Handler]:
    """``request`` as if it had been sent to ``path`` (same query), and its handler.

    aiohttp resolves the route before any middleware runs and offers no public way to
    resolve again, so the clone's match info is set the way ``Application._handle``
    sets it.
    """
    url = request.rel_url.with_path(path).with_query(request.rel_url.query)
    clone = request.clone(rel_url=url)
    match = await request.app.router.resolve(clone)
    match.add_app(request.app)
    match.freeze()
    clone._match_info = match
    return clone, match.handler
