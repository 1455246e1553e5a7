"""Typed keys for what the HTTP layer shares."""

from __future__ import annotations

from aiohttp import web

from batchport_emulator.dialects import Dialect
from batchport_emulator.state import EmulatorState

STATE = web.AppKey("state", EmulatorState)
REQUEST_ID = web.RequestKey("request_id", str)
#: the dialect the middleware picked from the path (absent outside every prefix)
DIALECT: web.RequestKey[Dialect] = web.RequestKey("dialect")
#: whom the request's credential stands for, set only when API keys are configured
#: (files and batches are then scoped to it; see ``Dialect.check_auth``)
PRINCIPAL = web.RequestKey("principal", str)
