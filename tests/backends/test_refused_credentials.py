"""A key the provider refuses is no fault of the rows: the run stops with every row
unsettled, and resumed with the right key it completes. Anthropic and Gemini meet the
key first at the create (their requests go inline), where a refusal used to read as the
shard's own and settle every row failed, leaving a run ``done`` that could not be
resumed; OpenAI (and Gemini for a shard it uploads) meet it at the upload. Driven
through the runner against the emulator with ``api_keys`` set; a 403 and a plain 400
through a mocked transport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from anthropic import AsyncAnthropic

import batchport as bp
from batchport.backends.anthropic import AnthropicBackend
from batchport.backends.base import Backend
from batchport.backends.gemini import GeminiBackend
from batchport.backends.openai import OpenAIBackend
from batchport.errors import AuthenticationError, BadRequestError, ConfigError
from batchport.requests import Request
from batchport.runner import InstantClock
from batchport.store import Store
from batchport_emulator import Emulator

KEY = "sk-right-KEY"
ROWS = 5
CONFIG: dict[str, Any] = {"api_keys": [KEY], "progression": {"kind": "after_polls", "polls": 2}}
#: backend, its options, the status a wrong key gets where it is first refused (every
#: backend raises AuthenticationError for it)
CASES: dict[str, tuple[dict[str, Any], int]] = {
    "openai": ({}, 401),  # at the upload
    "anthropic": ({}, 401),  # at the create
    "gemini": ({}, 400),  # at the create: 400 API_KEY_INVALID
    "gemini-upload": ({"inline_limit": 0}, 400),  # at the upload
}


def _requests(n: int = ROWS) -> list[Request]:
    return [
        Request(
            custom_id=f"r{i}",
            url="/v1/chat/completions",
            body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"row {i}"}]},
        )
        for i in range(n)
    ]


def _backend(case: str, url: str, key: str) -> Backend:
    options, _ = CASES[case]
    if case == "openai":
        return OpenAIBackend(api_key=key, base_url=url + "/v1")
    if case == "anthropic":
        return AnthropicBackend(api_key=key, base_url=url,
                                models={"gpt-4o-mini": "claude-haiku-4-5"})  # fmt: skip
    return GeminiBackend(api_key=key, base_url=url,
                         models={"gpt-4o-mini": "gemini-2.5-flash"}, **options)  # fmt: skip


def _assert_stopped_unsettled(home: Path, run_id: str, rows: int) -> None:
    with Store(home) as store:
        run = store.get_run(run_id)
        assert run.state == "failed"  # stopped, resumable: not "done"
        assert run.error  # what stopped it, for `batchport status`
        assert store.outcome_counts(run_id) == {None: rows}  # no row settled
        for shard in store.shards(run_id):
            assert shard.state in ("planned", "submitting"), shard
            assert shard.job_id is None


@pytest.mark.parametrize("case", list(CASES))
async def test_a_wrong_key_stops_the_run_unsettled_and_resume_with_the_right_key_completes(
    case: str, tmp_path: Path
) -> None:
    _, status = CASES[case]
    home = tmp_path / "home"
    async with Emulator(CONFIG) as emu:
        async with _backend(case, emu.url, "wrong") as wrong:
            with pytest.raises(AuthenticationError) as info:
                await bp.run(_requests(), backend=wrong, home=home, run_id="r1",
                             progress=False, clock=InstantClock())  # fmt: skip
        assert type(info.value) is AuthenticationError and info.value.status_code == status
        assert "wrong" not in str(info.value)  # the key never shows
        _assert_stopped_unsettled(home, "r1", ROWS)
        assert emu.batches() == []  # nothing was created

        async with _backend(case, emu.url, KEY) as right:
            run = await bp.resume("r1", backend=right, home=home, progress=False,
                                  clock=InstantClock(real_sleep=0.002))  # fmt: skip
        with run:
            assert run.state == "done"
            assert run.outcomes == {"succeeded": ROWS}
            assert sorted(r.custom_id for r in run.results()) == [f"r{i}" for i in range(ROWS)]
        assert len(emu.batches()) == 1  # one batch, for the one shard


@pytest.mark.parametrize("case", ["anthropic", "gemini"])
async def test_every_shard_stays_unsettled(case: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with Emulator(CONFIG) as emu:
        async with _backend(case, emu.url, "wrong") as wrong:
            with pytest.raises(AuthenticationError):
                await bp.run(_requests(9), backend=wrong, home=home, run_id="r2",
                             progress=False, clock=InstantClock(),
                             max_rows_per_shard=3)  # fmt: skip
        _assert_stopped_unsettled(home, "r2", 9)
        async with _backend(case, emu.url, KEY) as right:
            run = await bp.resume("r2", backend=right, home=home, progress=False,
                                  clock=InstantClock(real_sleep=0.002))  # fmt: skip
        with run:
            assert run.outcomes == {"succeeded": 9}
            assert len(run.store.shards("r2")) == 3


def _anthropic_answering(status: int, etype: str, message: str) -> AnthropicBackend:
    def handler(request: httpx2.Request) -> httpx2.Response:
        body = {"type": "error", "error": {"type": etype, "message": message}}
        return httpx2.Response(status, json=body)

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    client = AsyncAnthropic(api_key="sk-ant-x", base_url="http://mock.test", http_client=http)
    return AnthropicBackend(client, models={"gpt-4o-mini": "claude-haiku-4-5"})


async def test_a_403_at_the_create_stops_the_run_as_a_401_does(tmp_path: Path) -> None:
    home = tmp_path / "home"
    be = _anthropic_answering(403, "permission_error", "not allowed to use this model")
    with pytest.raises(AuthenticationError) as info:
        await bp.run(_requests(), backend=be, home=home, run_id="r3", progress=False,
                     clock=InstantClock())  # fmt: skip
    assert info.value.status_code == 403
    assert info.value.code == "permission_error"
    _assert_stopped_unsettled(home, "r3", ROWS)


async def test_a_batch_refused_for_its_requests_still_fails_its_rows(tmp_path: Path) -> None:
    """A 400 about the request is the shard's own: its rows are settled failed."""
    be = _anthropic_answering(400, "invalid_request_error", "requests: too many")
    run = await bp.run(_requests(), backend=be, home=tmp_path / "home", run_id="r4",
                       progress=False, clock=InstantClock())  # fmt: skip
    with run:
        assert run.state == "done"
        assert run.outcomes == {"failed": ROWS}


async def test_a_gemini_400_not_about_the_key_is_a_bad_request(tmp_path: Path) -> None:
    async with (
        Emulator(CONFIG) as emu,
        GeminiBackend(api_key=KEY, base_url=emu.url) as be,
    ):
        with pytest.raises(BadRequestError) as info:  # no inputConfig: a plain 400
            await be._raw("post", "models/gemini-2.5-flash:batchGenerateContent", {"batch": {}})
        assert not isinstance(info.value, AuthenticationError)
        async with GeminiBackend(api_key="wrong", base_url=emu.url) as wrong:
            with pytest.raises(AuthenticationError) as refused:
                await wrong._raw("get", "batches")
        assert refused.value.status_code == 400 and refused.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("case", "key", "url", "said"),
    [
        ("openai", "sk-PROBÉ-9", None, "a character HTTP headers cannot carry"),
        ("openai", "sk-right-KEY\n", None, "a character HTTP headers cannot carry"),
        ("anthropic", "sk-right-KEY\n", None, "a character HTTP headers cannot carry"),
        ("openai", KEY, "ftp://127.0.0.1:9", "URL cannot be used"),
        ("anthropic", KEY, "not-a-url", "URL cannot be used"),
    ],
)
async def test_a_request_that_cannot_be_sent_is_a_setting_to_fix_not_a_retry(
    case: str, key: str, url: str | None, said: str, tmp_path: Path
) -> None:
    """A key HTTP cannot carry (a non-ASCII letter, a trailing newline) or a URL that is
    not http(s) would fail every try alike: a ConfigError at once, no row settled and the
    key never repeated, where it was retried for minutes as a connection error."""
    home = tmp_path / "home"
    async with Emulator(CONFIG) as emu:
        async with _backend(case, url or emu.url, key) as be:
            with pytest.raises(ConfigError, match=said) as info:
                await bp.run(_requests(), backend=be, home=home, run_id="r5",
                             progress=False, clock=InstantClock())  # fmt: skip
        assert "PROB" not in str(info.value) and "right" not in str(info.value)
        _assert_stopped_unsettled(home, "r5", ROWS)
        assert emu.batches() == []
