"""SDK exceptions -> batchport errors, through the real SDK over an httpx2 MockTransport."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport import errors
from batchport.backends._translate import parse_retry_after, redact
from batchport.backends.models import Job, JobStatus
from batchport.backends.openai import OpenAIBackend

from .conformance import bytes_spec

JOB = Job(id="batch_1", status=JobStatus.VALIDATING)
FAKE_KEY = "sk-test-SECRETSECRET0123456789abcdef"

Handler = Callable[[httpx2.Request], httpx2.Response]


def _envelope(message: str, code: str | None = None, type_: str = "invalid_request_error") -> Any:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[[Handler], OpenAIBackend]]:
    made: list[tuple[OpenAIBackend, openai.AsyncOpenAI]] = []

    def make(handler: Handler) -> OpenAIBackend:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        client = openai.AsyncOpenAI(
            api_key=FAKE_KEY, base_url="http://mock.test/v1", max_retries=0, http_client=http
        )
        backend = OpenAIBackend(client)
        made.append((backend, client))
        return backend

    yield make
    for backend, client in made:
        await backend.aclose()
        await client.close()


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            status, json=body, headers={"x-request-id": "req_abc", **(headers or {})}
        )

    return handler


@pytest.mark.parametrize(
    ("status", "code", "expected", "retryable"),
    [
        (400, "invalid_value", errors.BadRequestError, False),
        (401, "invalid_api_key", errors.AuthenticationError, False),
        (403, None, errors.AuthenticationError, False),
        (404, None, errors.NotFoundError, False),
        (408, None, errors.TransportError, True),
        (409, None, errors.ConflictError, False),
        (413, None, errors.BadRequestError, False),
        (422, None, errors.BadRequestError, False),
        (429, "rate_limit_exceeded", errors.RateLimitError, True),
        (500, None, errors.ServerError, True),
        (503, None, errors.ServerError, True),
    ],
)
async def test_status_maps_to_error_class(
    make_backend: Callable[[Handler], OpenAIBackend],
    status: int,
    code: str | None,
    expected: type[errors.BackendError],
    retryable: bool,
) -> None:
    backend = make_backend(_answer(status, _envelope("nope here", code)))
    with pytest.raises(errors.BackendError) as info:
        await backend.poll(JOB)
    err = info.value
    assert type(err) is expected
    assert err.status_code == status
    assert err.code == code
    assert err.message == "nope here"
    assert err.provider == "openai"
    assert err.request_id == "req_abc"
    assert err.retryable is retryable
    assert err.payload == _envelope("nope here", code)
    assert isinstance(err.__cause__, openai.APIStatusError)
    assert f"[openai {status}" in str(err)
    assert "req_abc" in str(err)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, _envelope("Enqueued token limit reached", "token_limit_exceeded")),
        (400, _envelope("token_limit_exceeded: Enqueued token limit reached for gpt-4o")),
        (429, _envelope("quota", "token_limit_exceeded")),
        (
            400,
            {
                "error": {
                    "code": "invalidPayload",
                    "message": "Enqueued token limit reached.",
                    "innererror": {"code": "token_limit_exceeded"},
                }
            },
        ),
    ],
)
async def test_token_limit_exceeded_is_quota(
    make_backend: Callable[[Handler], OpenAIBackend], status: int, body: Any
) -> None:
    backend = make_backend(_answer(status, body))
    with pytest.raises(errors.QuotaExceededError) as info:
        await backend.create_batch(bytes_spec(), "file-1")
    assert info.value.retryable


async def test_other_400s_are_not_quota(make_backend: Callable[[Handler], OpenAIBackend]) -> None:
    body = {"error": {"code": "quotaExceeded", "message": "500 files without expiry"}}
    backend = make_backend(_answer(400, body))
    with pytest.raises(errors.BadRequestError) as info:
        await backend.create_batch(bytes_spec(), "file-1")
    assert not isinstance(info.value, errors.QuotaExceededError)
    assert not info.value.retryable
    assert info.value.code == "quotaExceeded"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "200", "retry-after": "9"}, 0.2),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),
        ({}, None),
        ({"retry-after": "soon"}, None),
    ],
)
async def test_retry_after_is_read_from_headers(
    make_backend: Callable[[Handler], OpenAIBackend],
    headers: dict[str, str],
    expected: float | None,
) -> None:
    backend = make_backend(_answer(429, _envelope("slow down"), headers))
    with pytest.raises(errors.RateLimitError) as info:
        await backend.retrieve_file("file-1")
    assert info.value.retry_after == expected


def test_retry_after_http_date_uses_the_clock() -> None:
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=lambda: 1_000_000.0) == 30.0
    assert parse_retry_after({"retry-after": date}, now=lambda: 2_000_000.0) == 0.0


@given(ms=st.integers(min_value=0, max_value=10**9), secs=st.integers(0, 10**6))
def test_retry_after_prefers_milliseconds(ms: int, secs: int) -> None:
    got = parse_retry_after({"retry-after-ms": str(ms), "retry-after": str(secs)})
    assert got == pytest.approx(ms / 1000)


@given(value=st.text(max_size=30))
def test_retry_after_never_crashes_and_is_never_negative(value: str) -> None:
    for name in ("retry-after", "retry-after-ms"):
        got = parse_retry_after({name: value}, now=lambda: 0.0)
        assert got is None or got >= 0


async def test_non_json_error_body_is_kept_as_text(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    backend = make_backend(lambda r: httpx2.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(errors.ServerError) as info:
        await backend.poll(JOB)
    assert info.value.payload == {"text": "<html>Bad gateway</html>"}
    assert "Bad gateway" in info.value.message


async def test_connection_error_is_transport_error(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    backend = make_backend(handler)
    with pytest.raises(errors.TransportError) as info:
        await backend.poll(JOB)
    assert info.value.retryable
    assert info.value.status_code is None
    assert isinstance(info.value.__cause__, openai.APIConnectionError)


async def test_timeout_is_transport_error(make_backend: Callable[[Handler], OpenAIBackend]) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    backend = make_backend(handler)
    with pytest.raises(errors.TransportError, match="timed out") as info:
        await backend.poll(JOB)
    assert isinstance(info.value.__cause__, openai.APITimeoutError)


async def test_errors_from_streams_and_lists_are_translated(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    backend = make_backend(_answer(404, _envelope("No such File object: file-x")))
    with pytest.raises(errors.NotFoundError):
        async for _ in backend.stream_file("file-x"):
            pass
    with pytest.raises(errors.NotFoundError):
        async for _ in backend.list_batches():
            pass


# --- secrets -------------------------------------------------------------------


async def test_an_echoed_key_never_reaches_errors_or_reprs(
    make_backend: Callable[[Handler], OpenAIBackend],
) -> None:
    echo = f"Incorrect API key provided: {FAKE_KEY}. Bearer {FAKE_KEY}"

    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.headers["authorization"] == f"Bearer {FAKE_KEY}"  # the key was sent
        return httpx2.Response(401, json=_envelope(echo, "invalid_api_key"))

    backend = make_backend(handler)
    with pytest.raises(errors.AuthenticationError) as info:
        await backend.poll(JOB)
    err = info.value
    cause = err.__cause__
    assert cause is not None
    texts = [str(err), repr(err), err.message, repr(err.payload), str(cause), repr(cause)]
    texts += [repr(backend), str(backend), repr(getattr(cause, "body", None))]
    for text in texts:
        assert FAKE_KEY not in text
        assert "SECRETSECRET" not in text
    assert "***" in err.message


def test_redact_masks_known_secrets_and_key_shapes() -> None:
    assert redact("key=hunter2-long", ["hunter2-long"]) == "key=***"
    assert redact("sk-proj-abc123XYZ and more") == "*** and more"
    assert redact("Authorization: Bearer eyJhbGciOi.abc.def") == "Authorization: ***"
    assert redact("no secrets here") == "no secrets here"


def test_missing_api_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(errors.ConfigError, match="OPENAI_API_KEY"):
        OpenAIBackend()
