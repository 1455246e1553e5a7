"""Dialect dispatch and the shared result-line writer, without and with HTTP.

A tiny stand-in dialect on ``/v1/widgets`` proves that a more specific prefix wins over
OpenAI's ``/v1`` (as Anthropic's ``/v1/messages`` does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from batchport_emulator import create_app
from batchport_emulator.app.keys import STATE
from batchport_emulator.batches import Batch
from batchport_emulator.config import EmulatorConfig
from batchport_emulator.dialects.lines import ResultLines
from batchport_emulator.dialects.registry import Dialects, PrefixTable
from batchport_emulator.dialects.rules import DialectRules
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord
from batchport_emulator.ids import IdFactory


class WidgetsDialect:
    """Just enough of a dialect to be told apart from OpenAI's on the wire."""

    name = "widgets-test"
    prefixes: tuple[str, ...] = ("/v1/widgets",)
    upload_status = 200
    route_sets: tuple[str, ...] = ()
    request_id_header = "x-request-id"
    lines = ResultLines()

    def __init__(self) -> None:
        self.rules = DialectRules(EmulatorConfig)

    def check_auth(self, headers: Mapping[str, str], accepted: Sequence[str]) -> None:
        if not headers.get("x-api-key"):
            raise ApiError(401, "x-api-key header is required", code="authentication_error")

    def request_id(self, ids: IdFactory) -> str:
        return ids.request_id()

    def check_request(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> None:
        return None

    def unknown_route(self, method: str, path: str) -> ApiError:
        return ApiError(404, f"{method} {path} not found", code="not_found_error")

    def error_body(self, error: ApiError, request_id: str | None = None) -> dict[str, Any]:
        return {"type": "error", "error": {"type": error.code, "message": error.message}}

    def file_object(self, record: FileRecord) -> dict[str, Any]:
        raise NotImplementedError

    def batch_object(self, batch: Batch) -> dict[str, Any]:
        raise NotImplementedError


def test_longest_prefix_wins_on_whole_segments() -> None:
    table = PrefixTable([("/v1", "openai"), ("/v1/messages", "messages"), ("/openai", "azure")])
    assert table.match("/v1/messages/batches") == "messages"
    assert table.match("/v1/messages") == "messages"
    assert table.match("/v1/messagesx") == "openai"
    assert table.match("/v1/files") == "openai"
    assert table.match("/v1") == "openai"
    assert table.match("/v10/files") is None
    assert table.match("/openai/v1/files") == "azure"
    assert table.match("/_emulator/reset") is None


@pytest.mark.parametrize("prefix", ["v1", "/v1/", ""])
def test_prefixes_are_checked(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        PrefixTable([(prefix, 1)])
    with pytest.raises(ValueError, match="twice"):
        PrefixTable([("/v1", 1), ("/v1", 2)])


def test_emulator_dialects_by_path_and_name() -> None:
    app = create_app()
    dialects = app[STATE].dialects
    assert [d.name for d in dialects] == ["openai", "azure", "anthropic", "gemini"]
    assert dialects.default is dialects["openai"]
    assert dialects.for_path("/v1/batches") is dialects["openai"]
    assert dialects.for_path("/openai/v1/batches") is dialects["azure"]
    assert dialects.for_path("/openai/files") is dialects["azure"]
    assert dialects.for_path("/v1/messages/batches") is dialects["anthropic"]
    assert dialects.for_path("/v1/messages") is dialects["anthropic"]
    assert dialects.for_path("/v1/messagesx") is dialects["openai"]
    assert dialects.for_path("/_emulator/config") is None


def test_a_registered_dialect_takes_its_prefix_from_v1() -> None:
    openai = create_app()[STATE].dialects["openai"]
    widgets = WidgetsDialect()
    dialects = Dialects([openai, widgets])
    assert dialects.for_path("/v1/widgets/batches") is widgets
    assert dialects.for_path("/v1/widgets/batches/w_1/results") is widgets
    assert dialects.for_path("/v1/batches") is openai


async def test_the_middleware_dispatches_to_the_more_specific_dialect(aiohttp_client: Any) -> None:
    app = create_app()
    state = app[STATE]
    state.dialects = Dialects([*state.dialects, WidgetsDialect()])
    client = await aiohttp_client(app)

    refused = await client.get("/v1/widgets/batches", headers={"Authorization": "Bearer k"})
    assert refused.status == 401
    assert await refused.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "x-api-key header is required"},
    }
    missing = await client.get("/v1/widgets/batches", headers={"x-api-key": "k"})
    assert missing.status == 404
    body = await missing.json()
    assert body["error"]["type"] == "not_found_error"

    openai = await client.get("/v1/nothing-here", headers={"Authorization": "Bearer k"})
    assert openai.status == 404
    assert (await openai.json())["error"]["message"] == "Invalid URL (GET /v1/nothing-here)"
    listed = await client.get("/v1/batches", headers={"Authorization": "Bearer k"})
    assert listed.status == 200


@pytest.mark.parametrize(
    ("lines", "ran_keys", "response_keys", "unrun_keys"),
    [
        (
            ResultLines(),
            ["id", "custom_id", "response", "error"],
            ["status_code", "request_id", "body"],
            ["id", "custom_id", "response", "error"],
        ),
        (
            ResultLines(with_id=False, response_order=("body", "request_id", "status_code")),
            ["custom_id", "response", "error"],
            ["body", "request_id", "status_code"],
            ["custom_id", "response", "error"],
        ),
    ],
)
def test_one_result_line_writer_for_both_shapes(
    lines: ResultLines, ran_keys: list[str], response_keys: list[str], unrun_keys: list[str]
) -> None:
    raw = lines.ran(
        line_id="batch_req_1", custom_id="c1", status_code=200, request_id="req_1", body={"a": 1}
    )
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    ran = json.loads(raw)
    assert list(ran) == ran_keys
    assert list(ran["response"]) == response_keys
    assert ran["custom_id"] == "c1" and ran["error"] is None
    assert ran["response"] == {"status_code": 200, "request_id": "req_1", "body": {"a": 1}}
    assert ran.get("id", "batch_req_1") == "batch_req_1"

    unrun = json.loads(
        lines.unrun(line_id="batch_req_2", custom_id="c2", code="batch_expired", message="m")
    )
    assert list(unrun) == unrun_keys
    assert unrun["response"] is None
    assert unrun["error"] == {"code": "batch_expired", "message": "m"}
