"""CallableResponder, ForwardResponder and make_responder."""

from __future__ import annotations

import asyncio
import logging
import sys
import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr, ValidationError

from batchport_emulator.responders import (
    CallableResponder,
    FakeResponder,
    ForwardResponder,
    ResponderConfig,
    ResponderError,
    RespondRequest,
    RespondResult,
    estimate_tokens,
    import_callable,
    make_responder,
)

CHAT = "/v1/chat/completions"
SECRET = "sk-test-secret-value-123"


def request(text: str = "hello there", custom_id: str | None = "row-1") -> RespondRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    return RespondRequest(CHAT, body, custom_id)


def chat_answer(content: str, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop", "logprobs": None}],
    }  # fmt: skip
    if usage is not None:
        body["usage"] = usage
    return body


# -- CallableResponder -----------------------------------------------------


async def test_sync_dict_answer_estimates_tokens() -> None:
    responder = CallableResponder(lambda req: chat_answer("four words right here"))
    result = await responder.respond(request("hello there"))
    assert result.status_code == 200
    assert result.body["choices"][0]["message"]["content"] == "four words right here"
    assert result.output_tokens == estimate_tokens("four words right here")
    assert result.input_tokens > 0


async def test_async_answer_takes_tokens_from_usage() -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
             "prompt_tokens_details": {"cached_tokens": 3},
             "completion_tokens_details": {"reasoning_tokens": 2}}  # fmt: skip

    async def fn(req: RespondRequest) -> dict[str, Any]:
        await asyncio.sleep(0)
        return chat_answer(str(req.custom_id), usage)

    result = await CallableResponder(fn).respond(request())
    assert result.body["choices"][0]["message"]["content"] == "row-1"
    assert (result.input_tokens, result.output_tokens) == (11, 7)
    assert (result.cached_tokens, result.reasoning_tokens) == (3, 2)


async def test_respond_result_passes_through() -> None:
    wanted = RespondResult(
        503, {"error": {"message": "m", "type": "t", "param": None, "code": None}}
    )
    assert await CallableResponder(lambda req: wanted).respond(request()) is wanted


async def test_failing_function_is_a_500_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    def broken(req: RespondRequest) -> dict[str, Any]:
        raise KeyError("boom")

    with caplog.at_level(logging.ERROR):
        result = await CallableResponder(broken).respond(request())
    assert result.status_code == 500
    assert result.body["error"]["type"] == "server_error"
    assert "KeyError" in result.body["error"]["message"]
    assert "responder callable failed" in caplog.text


async def test_wrong_return_type_is_a_500() -> None:
    result = await CallableResponder(lambda req: 42).respond(request())  # type: ignore[arg-type,return-value]
    assert result.status_code == 500
    assert "returned int" in result.body["error"]["message"]


def test_callable_responder_needs_a_callable() -> None:
    with pytest.raises(ResponderError):
        CallableResponder("not callable")  # type: ignore[arg-type]


@pytest.fixture
def fake_module() -> Iterator[str]:
    module = types.ModuleType("bp_test_responder_mod")
    module.answer = lambda req: chat_answer("from module")  # type: ignore[attr-defined]
    module.holder = types.SimpleNamespace(nested=module.answer)  # type: ignore[attr-defined]
    module.not_callable = 5  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]


async def test_config_callable_is_imported(fake_module: str) -> None:
    responder = make_responder(ResponderConfig(kind="callable", callable=f"{fake_module}:answer"))
    result = await responder.respond(request())
    assert result.body["choices"][0]["message"]["content"] == "from module"
    assert import_callable(f"{fake_module}:holder.nested")(request()) is not None


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("no_such_module_xyz:fn", "cannot import module 'no_such_module_xyz'"),
        ("{mod}:missing", "has no attribute 'missing'"),
        ("{mod}:not_callable", "is not callable"),
        ("nocolon", "expected 'package.module:function'"),
    ],
)
def test_import_errors_are_clear(fake_module: str, path: str, needle: str) -> None:
    with pytest.raises(ResponderError, match=needle.replace("(", r"\(")) as info:
        import_callable(path.format(mod=fake_module))
    assert path.format(mod=fake_module) in str(info.value)


# -- make_responder and ResponderConfig -------------------------------------


async def test_make_responder_picks_by_kind() -> None:
    assert isinstance(make_responder(), FakeResponder)
    assert isinstance(make_responder(ResponderConfig(), fn=lambda r: {}), CallableResponder)
    forward = make_responder(ResponderConfig(kind="forward", forward_url="http://127.0.0.1:9/v1"))
    assert isinstance(forward, ForwardResponder)
    await forward.aclose()
    with pytest.raises(ResponderError, match="callable is not set"):
        make_responder(ResponderConfig(kind="callable"))
    with pytest.raises(ResponderError, match="forward_url is not set"):
        make_responder(ResponderConfig(kind="forward"))


async def test_make_responder_uses_the_clock() -> None:
    responder = make_responder(clock=lambda: 1234.9)
    assert (await responder.respond(request())).body["created"] == 1234


@pytest.mark.parametrize(
    "fields",
    [{"callable": "not a path"}, {"forward_url": "ftp://x"}, {"unknown": 1},
     {"forward_timeout_s": 0}, {"output_words": 0}],
)  # fmt: skip
def test_config_rejects_bad_values(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ResponderConfig(**fields)


def test_config_hides_the_key() -> None:
    config = ResponderConfig(forward_api_key=SecretStr(SECRET))
    assert SECRET not in repr(config)
    assert SECRET not in str(config.model_dump())
    assert ResponderConfig.model_validate({"forward_api_key": SECRET}).forward_api_key is not None


# -- ForwardResponder against a local server ---------------------------------


class Upstream:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, Any]] = []
        self.mode = "ok"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, request.headers.get("Authorization"), await request.json()))
        if self.mode == "slow":
            await asyncio.sleep(2)
        if self.mode == "text":
            return web.Response(text="<html>oops</html>", status=502)
        if self.mode == "error":
            body = {"error": {"message": "nope", "type": "invalid_request_error", "param": None,
                              "code": None}}  # fmt: skip
            return web.json_response(body, status=400)
        if self.mode == "no-usage":
            return web.json_response(chat_answer("three little words"))
        usage = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
        return web.json_response(chat_answer("forwarded", usage))


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    state = Upstream()
    app = web.Application()
    app.router.add_post("/v1/{tail:.*}", state.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


async def test_forward_passes_body_status_and_usage(upstream: tuple[Upstream, str]) -> None:
    state, url = upstream
    responder = ForwardResponder(url, api_key=SecretStr(SECRET))
    try:
        result = await responder.respond(request("hi"))
        assert result.status_code == 200
        assert result.body["choices"][0]["message"]["content"] == "forwarded"
        assert (result.input_tokens, result.output_tokens) == (5, 9)
        path, auth, body = state.seen[0]
        assert path == "/v1/chat/completions"
        assert auth == f"Bearer {SECRET}"
        assert body["messages"][0]["content"] == "hi"
        state.mode = "error"
        failed = await responder.respond(request())
        assert failed.status_code == 400
        assert failed.body["error"]["message"] == "nope"
        state.mode = "no-usage"
        estimated = await responder.respond(request())
        assert estimated.output_tokens == estimate_tokens("three little words")
        azure = await responder.respond(RespondRequest("/chat/completions", request().body))
        assert azure.status_code == 200
        assert state.seen[-1][0] == "/v1/chat/completions"
    finally:
        await responder.aclose()


async def test_forward_bad_answers_become_502_or_504(upstream: tuple[Upstream, str]) -> None:
    state, url = upstream
    responder = ForwardResponder(url, api_key=SECRET, timeout_s=0.05)
    try:
        state.mode = "text"
        not_json = await responder.respond(request())
        assert not_json.status_code == 502
        assert "without a JSON" in not_json.body["error"]["message"]
        state.mode = "slow"
        slow = await responder.respond(request())
        assert slow.status_code == 504
        assert slow.body["error"]["type"] == "server_error"
        for result in (not_json, slow):
            assert SECRET not in str(result)
    finally:
        await responder.aclose()


async def test_forward_connection_refused_is_a_502() -> None:
    # Port 9 (discard) on loopback has no listener here: the connect is refused.
    responder = ForwardResponder("http://user:pw@127.0.0.1:9/v1", api_key=SECRET)
    try:
        result = await responder.respond(request())
    finally:
        await responder.aclose()
    assert result.status_code == 502
    error = result.body["error"]
    assert error["type"] == "server_error"
    assert "Could not reach" in error["message"]
    for text in (str(result), repr(responder)):
        assert SECRET not in text
        assert "pw" not in text
    assert "**********" in repr(responder)


async def test_aclose_closes_the_session_and_is_idempotent(upstream: tuple[Upstream, str]) -> None:
    _, url = upstream
    responder = ForwardResponder(url)
    await responder.respond(request())
    session = responder._session
    assert session is not None
    assert not session.closed
    await responder.aclose()
    assert session.closed
    await responder.aclose()
