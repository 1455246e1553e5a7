"""The ``google-genai`` SDK against the emulator's Gemini refusals: API keys (header and
``?key=``), create-time envelope checks, unknown input files, a malformed input file
failing the batch, 429 ``RESOURCE_EXHAUSTED`` without ``Retry-After`` (rate limits and
injected faults), each raised by the SDK's own exception classes.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from batchport_emulator import EmulatorThread

KEY = "gemini-errors"
MODEL = "gemini-2.5-flash"


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread({"api_keys": [KEY], "gemini": {"max_inline_bytes": 4096}}) as emu:
        yield emu


def client(emu: EmulatorThread, key: str = KEY) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=emu.url))


def raw(emu: EmulatorThread, method: str, path: str, body: Any = None, **headers: str) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(emu.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def test_a_wrong_key_is_invalid_argument(emulator: EmulatorThread) -> None:
    c = client(emulator, "wrong")  # held: a client dropped mid-call closes its transport
    with pytest.raises(errors.ClientError) as refused:
        c.batches.list()
    assert refused.value.code == 400 and refused.value.status == "INVALID_ARGUMENT"
    details = refused.value.details["error"]["details"]
    assert details[0]["reason"] == "API_KEY_INVALID"


def test_no_key_is_permission_denied_and_the_query_key_works(emulator: EmulatorThread) -> None:
    status, _, body = raw(emulator, "GET", "/v1beta/batches")
    assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED"
    assert set(body["error"]) == {"code", "message", "status"}
    status, _, body = raw(emulator, "GET", f"/v1beta/batches?key={KEY}")
    assert status == 200 and body == {}


def test_create_envelope_errors(emulator: EmulatorThread) -> None:
    key = {"x-goog-api-key": KEY, "Content-Type": "application/json"}
    path = f"/v1beta/models/{MODEL}:batchGenerateContent"
    status, _, body = raw(emulator, "POST", path, {"batch": {}}, **key)
    assert status == 400 and "input_config" in body["error"]["message"]
    both = {"batch": {"input_config": {"file_name": "files/x", "requests": {"requests": [{}]}}}}
    assert raw(emulator, "POST", path, both, **key)[0] == 400
    bad_meta = {"batch": {"input_config": {"requests": {"requests": [
        {"request": {"contents": []}, "metadata": {"key": 1}}]}}}}  # fmt: skip
    status, _, body = raw(emulator, "POST", path, bad_meta, **key)
    assert status == 400 and "metadata" in body["error"]["message"]


def test_inline_body_over_the_cap(emulator: EmulatorThread) -> None:
    big = [{"contents": [{"parts": [{"text": "x" * 2000}]}]} for _ in range(3)]
    c = client(emulator)
    with pytest.raises(errors.ClientError) as refused:
        c.batches.create(model=MODEL, src=big)
    assert refused.value.code == 400
    assert "payload size exceeds the limit: 4096" in str(refused.value.message)


def test_unknown_input_file(emulator: EmulatorThread) -> None:
    c = client(emulator)
    with pytest.raises(errors.ClientError) as refused:
        c.batches.create(model=MODEL, src="files/doesnotexist")
    assert refused.value.code == 403


def test_malformed_input_file_fails_the_batch(emulator: EmulatorThread) -> None:
    c = client(emulator)
    data = io.BytesIO(b'{"key": "a", "request": {}}\nnot json\n')
    uploaded = c.files.upload(file=data, config={"mime_type": "jsonl"})
    assert uploaded.name is not None
    job = c.batches.create(model=MODEL, src=uploaded.name)
    assert job.name is not None
    for _ in range(500):
        job = c.batches.get(name=job.name)
        if job.done:
            break
        time.sleep(0.01)
    assert job.state == types.JobState.JOB_STATE_FAILED
    assert job.dest is None
    _, _, operation = raw(emulator, "GET", f"/v1beta/{job.name}", **{"x-goog-api-key": KEY})
    assert operation["done"] is True and operation["error"]["code"] == 3


def test_rate_limited_generate_content_has_no_retry_after(emulator: EmulatorThread) -> None:
    emulator.configure({"realtime": {"rpm": 1}})
    c = client(emulator)
    assert c.models.generate_content(model=MODEL, contents="one").text
    with pytest.raises(errors.ClientError) as limited:
        c.models.generate_content(model=MODEL, contents="two")
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    assert limited.value.response is not None
    headers = {k.lower() for k in limited.value.response.headers}
    assert "retry-after" not in headers and "retry-after-ms" not in headers


def test_injected_429_at_create(emulator: EmulatorThread) -> None:
    emulator.configure({"faults": {"api_error_rate": 1.0, "api_error_kinds": ["429"]}})
    status, headers, body = raw(emulator, "GET", "/v1beta/batches", **{"x-goog-api-key": KEY})
    assert status == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body["error"]["details"][0]["@type"] == "type.googleapis.com/google.rpc.Help"
    assert not {k.lower() for k in headers} & {"retry-after", "retry-after-ms"}
    c = client(emulator)
    with pytest.raises(errors.ClientError) as limited:
        c.batches.create(model=MODEL, src=[{"contents": "x"}])
    assert limited.value.code == 429


def test_openai_clients_on_v1_are_untouched(emulator: EmulatorThread) -> None:
    status, _, body = raw(emulator, "GET", "/v1/batches", Authorization=f"Bearer {KEY}")
    assert status == 200 and body["object"] == "list"
