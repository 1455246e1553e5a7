"""Errors aiohttp answers before any middleware runs, in the JSON error envelope.

A request line or header the HTTP parser refuses never reaches the application:
aiohttp's connection handler answers it with its own text body, which quotes the
offending bytes. :class:`EnvelopeRunner` swaps that handler for one answering in the
default dialect's envelope with an ``x-request-id``, naming the kind of problem and
never the parser's text. It uses aiohttp's (stable, but undocumented) connection
handler seam: ``Server.__call__`` builds one ``RequestHandler`` per connection.
"""

from __future__ import annotations

from typing import Any

from aiohttp import http_exceptions as hx
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from batchport_emulator.app.keys import STATE
from batchport_emulator.errors import ApiError
from batchport_emulator.state import EmulatorState

__all__ = ["EnvelopeRunner", "parse_error"]

_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (hx.LineTooLong, "a request line or header is too long"),
    (hx.InvalidHeader, "a header is malformed"),
    (hx.BadHttpMethod, "the method is malformed"),
    (hx.InvalidURLError, "the URL is malformed"),
    (hx.PayloadEncodingError, "the body's encoding is malformed"),
)


def parse_error(status: int, exc: BaseException | None) -> ApiError:
    """The :class:`ApiError` for a request aiohttp could not parse or serve."""
    if status >= 500:
        return ApiError(
            status, "The server had an error while processing your request.", type="server_error"
        )
    kind = next((text for cls, text in _KINDS if isinstance(exc, cls)), "it is malformed")
    return ApiError(status, f"The HTTP request could not be parsed: {kind}.", code="bad_request")


class _EnvelopeHandler(RequestHandler):
    state: EmulatorState

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises if sent already
        err = parse_error(status, exc)
        body = self.state.dialects.default.error_body(err)
        resp = web.json_response(body, status=err.status)
        resp.headers["x-request-id"] = self.state.ids.request_id()
        resp.force_close()
        return resp


class _EnvelopeServer(Server):
    state: EmulatorState

    def __call__(self) -> RequestHandler:
        handler = _EnvelopeHandler(self, loop=self._loop, **self._kwargs)
        handler.state = self.state
        return handler


class EnvelopeRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer unparsable requests in the envelope."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._state = app[STATE]

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        # Same object, one method more: keeps everything the app configured.
        server.__class__ = _EnvelopeServer
        server.state = self._state  # type: ignore[attr-defined]
        return server
