"""The one middleware: request ids, the dialect, its auth and checks, API faults,
error envelopes.

A Google-authenticated request under ``/v1`` is first routed again as its ``/v1beta``
twin (:mod:`~batchport_emulator.app.aliases`). The request's dialect is picked once,
from the path (the longest matching prefix,
:meth:`~batchport_emulator.dialects.registry.Dialects.for_path`), and stored under
:data:`~batchport_emulator.app.keys.DIALECT` for the handlers. Every response gets a
request id in the dialect's form and header (``x-request-id``; Anthropic's
``request-id``). Domain errors (:class:`ApiError`) and aiohttp's own HTTP errors
(unknown route, wrong method, body too large) become the dialect's error body (the
default dialect's outside every prefix); anything unexpected becomes a logged 500 in
the same shape rather than a bare traceback page. Before anything else the
``Host``/``Origin`` check and, on ``/_emulator/``, the control key
(:mod:`~batchport_emulator.app.guard`) run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from batchport_emulator.app.aliases import gemini_twin, rerouted
from batchport_emulator.app.control import PREFIX as CONTROL_PREFIX
from batchport_emulator.app.guard import check_control_key, check_origin
from batchport_emulator.app.helpers import json_response
from batchport_emulator.app.keys import DIALECT, PRINCIPAL, REQUEST_ID, STATE
from batchport_emulator.app.parse_errors import parse_error
from batchport_emulator.dialects import Dialect, ErrorHeaders, UrlAuth
from batchport_emulator.errors import ApiError

log = logging.getLogger(__name__)


def _from_http_exception(
    request: web.Request, exc: web.HTTPException, dialect: Dialect
) -> ApiError:
    if exc.status == 404:
        return dialect.unknown_route(request.method, request.path)
    if exc.status == 405:
        return ApiError(exc.status, f"Invalid URL ({request.method} {request.path[:256]})")
    if exc.status == 413:
        return ApiError(413, "Request body too large.", code="request_too_large")
    return ApiError(exc.status, exc.reason or "Bad request.")


def _authenticate(dialect: Dialect, request: web.Request, accepted: list[str]) -> str | None:
    """The principal, through the dialect's URL-aware hook when it has one."""
    if isinstance(dialect, UrlAuth):
        return dialect.check_url_auth(request.path, request.query, request.headers, accepted)
    return dialect.check_auth(request.headers, accepted)


def _error_headers(dialect: Dialect, error: ApiError) -> Mapping[str, str]:
    return dialect.error_headers(error) if isinstance(dialect, ErrorHeaders) else error.headers


def _is_control(request: web.Request) -> bool:
    """Routed to a control endpoint (judged by the route, not by how the path was spelled)."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    return canonical.startswith(CONTROL_PREFIX + "/") or request.path.startswith(CONTROL_PREFIX)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    twin = gemini_twin(request)
    if twin is not None:
        request, handler = await rerouted(request, twin)
    served = state.dialects.for_path(request.path)
    dialect = served or state.dialects.default
    request_id = dialect.request_id(state.ids)
    request[REQUEST_ID] = request_id
    response: web.StreamResponse
    try:
        check_origin(request.headers, state.config)
        if _is_control(request):
            check_control_key(request.headers, state.config)
        if served is not None:
            request[DIALECT] = served
            principal = _authenticate(served, request, state.accepted_keys())
            if principal is not None:
                request[PRINCIPAL] = principal
            fault = state.faults.api_fault()
            if fault == "drop":
                if request.transport is not None:
                    request.transport.abort()
                raise ConnectionResetError("fault injection dropped the connection")
            if fault is not None:
                raise state.faults.api_error(fault)
            served.check_request(request.path, request.query, request.headers)
        response = await handler(request)
    except ApiError as err:
        body = dialect.error_body(err, request_id)
        response = json_response(body, status=err.status, headers=_error_headers(dialect, err))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        http_err = _from_http_exception(request, exc, dialect)
        body = dialect.error_body(http_err, request_id)
        response = json_response(body, status=http_err.status)
    except HttpProcessingError as exc:  # a body part's headers, chunked encoding
        bad = parse_error(400, exc)
        response = json_response(dialect.error_body(bad, request_id), status=400)
    except ConnectionResetError:
        raise
    except Exception:
        log.exception("unexpected error handling %s %s", request.method, request.path)
        crash = ApiError(
            500, "The server had an error while processing your request.", type="server_error"
        )
        response = json_response(dialect.error_body(crash, request_id), status=500)
    response.headers[dialect.request_id_header] = request_id
    if response.status == 408 and not response.prepared:
        # the body stalled: answer, then hang up instead of lingering over the rest of it
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        request.protocol.force_close()
    return response
