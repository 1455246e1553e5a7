"""Gemini's documented Batch flows, unchanged, through the official ``google-genai`` SDK
(sync and ``client.aio``) against a served emulator: inline create, poll ``batches.get``
until done, read ``dest.inlined_responses`` joined by ``metadata.key``; file mode
(``files.upload`` the JSONL, create from ``files/...``, ``files.download`` the results);
cancel, delete, list pages; expiry after 48 hours and file expiry, on the virtual clock.
Every answer is parsed by the SDK's own types.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

from batchport_emulator import EmulatorThread

KEY = "gemini-documented-flow"
MODEL = "gemini-2.5-flash"
POLL_S = 0.01
HELD: dict[str, Any] = {
    "clock": {"scale": 0},
    "progression": {
        "kind": "throughput",
        "requests_per_s": 1.0,
        "queue_delay_s": 0,
        "validating_s": 0,
        "finalizing_s": 0,
        "cancelling_s": 0,
    },
}


class Verdict(BaseModel):
    label: str
    score: float


STRUCTURED: dict[str, Any] = {"response_mime_type": "application/json", "response_schema": Verdict}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread({"api_keys": [KEY]}) as emu:
        yield emu


@pytest.fixture
def held() -> Iterator[EmulatorThread]:
    with EmulatorThread(HELD) as emu:
        yield emu


JSONL: dict[str, Any] = {"mime_type": "jsonl"}


def client(emu: EmulatorThread, **options: Any) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=emu.url, **options))


def inline(key: str, text: str, **config: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "contents": [{"parts": [{"text": text}], "role": "user"}],
        "metadata": {"key": key},
    }
    if config:
        request["config"] = config
    return request


def wait_done(c: genai.Client, name: str) -> types.BatchJob:
    for _ in range(2000):
        job = c.batches.get(name=name)
        if job.done:
            return job
        time.sleep(POLL_S)
    raise AssertionError("the batch did not finish")


def jsonl(lines: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(line) + "\n" for line in lines).encode())


def test_inline_flow_sync(emulator: EmulatorThread) -> None:
    c = client(emulator)
    job = c.batches.create(
        model=MODEL,
        src=[
            inline("plain", "Hello there"),
            inline("json", "Rate it", **STRUCTURED),
            inline("bad", "Fail [[emulator:status=400]]"),
            inline("busy", "Fail [[emulator:status=429]]"),
            inline("unsafe", "No [[emulator:refuse]]"),
            inline("cut", "Long [[emulator:truncate]]"),
        ],
        config={"display_name": "documented-inline"},
    )
    assert job.name is not None and job.name.startswith("batches/")
    assert job.display_name == "documented-inline"
    assert job.model == f"models/{MODEL}"
    assert job.state in (types.JobState.JOB_STATE_PENDING, types.JobState.JOB_STATE_RUNNING)
    done = wait_done(c, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED  # with failed rows
    assert done.create_time is not None and done.end_time is not None
    assert done.dest is not None and done.dest.inlined_responses is not None
    by_key = {r.metadata["key"]: r for r in done.dest.inlined_responses if r.metadata}
    assert set(by_key) == {"plain", "json", "bad", "busy", "unsafe", "cut"}
    plain = by_key["plain"].response
    assert plain is not None and plain.text
    assert plain.candidates and plain.candidates[0].finish_reason == types.FinishReason.STOP
    usage = plain.usage_metadata
    assert usage is not None and usage.prompt_token_count and usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    structured = by_key["json"].response
    assert structured is not None and structured.text
    Verdict.model_validate_json(structured.text)
    bad, busy = by_key["bad"], by_key["busy"]
    assert bad.response is None and bad.error is not None and bad.error.code == 3
    assert busy.error is not None and busy.error.code == 8
    unsafe = by_key["unsafe"].response
    assert unsafe is not None and unsafe.candidates
    assert unsafe.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert unsafe.candidates[0].content is None
    cut = by_key["cut"].response
    assert cut is not None and cut.candidates
    assert cut.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_inline_results_are_shuffled_but_keyed(emulator: EmulatorThread) -> None:
    c = client(emulator)
    keys = [f"k{i:02d}" for i in range(30)]
    job = c.batches.create(model=MODEL, src=[inline(k, f"question {k}") for k in keys])
    assert job.name is not None
    done = wait_done(c, job.name)
    assert done.dest is not None and done.dest.inlined_responses is not None
    seen = [r.metadata["key"] for r in done.dest.inlined_responses if r.metadata]
    assert sorted(seen) == keys and seen != keys


def test_file_flow_sync(emulator: EmulatorThread) -> None:
    c = client(emulator)
    lines = [
        {"key": "r1", "request": {"contents": [{"parts": [{"text": "one"}]}]}},
        {"key": "r2", "request": {"contents": [{"parts": [{"text": "[[emulator:status=500]]"}]}]}},
        {"key": "r3", "request": {"contents": []}},
    ]
    uploaded = c.files.upload(
        file=jsonl(lines), config={"mime_type": "jsonl", "display_name": "batch-input"}
    )
    assert uploaded.name is not None and uploaded.name.startswith("files/")
    assert uploaded.source == types.FileSource.UPLOADED and uploaded.download_uri is None
    assert uploaded.size_bytes == len(jsonl(lines).getvalue())
    assert uploaded.state == types.FileState.ACTIVE
    job = c.batches.create(model=MODEL, src=uploaded.name)
    assert job.name is not None
    done = wait_done(c, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.file_name is not None
    result = c.files.download(file=done.dest.file_name)
    rows = {row["key"]: row for row in map(json.loads, result.decode().splitlines())}
    assert set(rows) == {"r1", "r2", "r3"}
    assert set(rows["r1"]) == {"key", "response"}
    assert rows["r1"]["response"]["candidates"][0]["content"]["parts"][0]["text"]
    assert set(rows["r2"]) == {"key", "error"} and rows["r2"]["error"]["code"] == 13
    assert rows["r3"]["error"]["code"] == 3
    output = c.files.get(name=done.dest.file_name)
    assert output.source == types.FileSource.GENERATED and output.download_uri


def test_uploaded_files_refuse_download(emulator: EmulatorThread) -> None:
    c = client(emulator)
    uploaded = c.files.upload(file=jsonl([{"key": "a", "request": {}}]), config=JSONL)
    assert uploaded.name is not None
    with pytest.raises(ValueError, match="Only generated files"):
        c.files.download(file=c.files.get(name=uploaded.name))
    with pytest.raises(errors.ClientError) as refused:
        c.files.download(file=uploaded.name)
    assert refused.value.code == 400 and refused.value.status == "FAILED_PRECONDITION"
    c.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as gone:
        c.files.get(name=uploaded.name)
    assert gone.value.code == 403


def test_cancel_then_delete(held: EmulatorThread) -> None:
    c = client(held)
    job = c.batches.create(model=MODEL, src=[inline(f"c{i}", "x") for i in range(3)])
    assert job.name is not None
    running = c.batches.get(name=job.name)
    assert not running.done
    assert c.batches.cancel(name=job.name) is None  # the SDK discards the answer
    cancelled = wait_done(c, job.name)
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED
    deleted = c.batches.delete(name=job.name)
    assert deleted.name == job.name and deleted.done is True
    with pytest.raises(errors.ClientError) as gone:
        c.batches.get(name=job.name)
    assert gone.value.code == 404 and gone.value.status == "NOT_FOUND"


def test_delete_stops_a_running_batch(held: EmulatorThread) -> None:
    c = client(held)
    job = c.batches.create(model=MODEL, src=[inline("d", "x")])
    assert job.name is not None
    c.batches.delete(name=job.name)
    names = [b.name for b in c.batches.list()]
    assert job.name not in names


def test_list_pages_newest_first(held: EmulatorThread) -> None:
    c = client(held)
    made = [c.batches.create(model=MODEL, src=[inline("x", "x")]).name for _ in range(5)]
    pager = c.batches.list(config={"page_size": 2})
    assert [b.name for b in pager.page] == made[::-1][:2]
    assert [b.name for b in pager] == made[::-1]


def test_expiry_after_48_hours_has_no_results(held: EmulatorThread) -> None:
    c = client(held)
    held.configure({"faults": {"stuck_validating_rate": 1.0}})  # never starts
    job = c.batches.create(model=MODEL, src=[inline(f"e{i}", "x") for i in range(2)])
    assert job.name is not None
    held.advance_clock(47 * 3600)
    assert not c.batches.get(name=job.name).done
    held.advance_clock(3600 + 1)
    expired = wait_done(c, job.name)
    assert expired.state == types.JobState.JOB_STATE_EXPIRED
    assert expired.dest is None


def test_files_are_deleted_after_48_hours(held: EmulatorThread) -> None:
    c = client(held)
    uploaded = c.files.upload(file=jsonl([{"key": "a", "request": {}}]), config=JSONL)
    assert uploaded.name is not None and uploaded.expiration_time and uploaded.create_time
    assert (uploaded.expiration_time - uploaded.create_time).total_seconds() == 48 * 3600
    held.advance_clock(48 * 3600 + 1)
    with pytest.raises(errors.ClientError) as gone:
        c.files.get(name=uploaded.name)
    assert gone.value.code == 403


def test_realtime_generate_content_structured(emulator: EmulatorThread) -> None:
    c = client(emulator)
    answer = c.models.generate_content(
        model=MODEL,
        contents="Judge this",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=Verdict,
            system_instruction="Be terse.",
        ),
    )
    assert isinstance(answer.parsed, Verdict)
    assert answer.model_version == MODEL and answer.response_id
    plain = c.models.generate_content(
        model=MODEL, contents="Say hi", config={"max_output_tokens": 2}
    )
    assert plain.candidates and plain.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_v1beta_api_version_works_too(emulator: EmulatorThread) -> None:
    c = client(emulator, api_version="v1beta")
    job = c.batches.create(model=MODEL, src=[inline("v", "x")])
    assert job.name is not None
    assert wait_done(c, job.name).state == types.JobState.JOB_STATE_SUCCEEDED


# The SDK's async client subclasses aiohttp's ClientSession, which aiohttp warns about.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
def test_inline_flow_async(emulator: EmulatorThread) -> None:
    async def flow() -> None:
        c = client(emulator).aio
        job = await c.batches.create(model=MODEL, src=[inline("a1", "one"), inline("a2", "two")])
        assert job.name is not None
        for _ in range(2000):
            job = await c.batches.get(name=job.name)
            if job.done:
                break
            await asyncio.sleep(POLL_S)
        assert job.state == types.JobState.JOB_STATE_SUCCEEDED
        assert job.dest is not None and job.dest.inlined_responses is not None
        keys = {r.metadata["key"] for r in job.dest.inlined_responses if r.metadata}
        assert keys == {"a1", "a2"}
        uploaded = await c.files.upload(
            file=jsonl([{"key": "f", "request": {"contents": [{"parts": [{"text": "x"}]}]}}]),
            config={"mime_type": "jsonl"},
        )
        assert uploaded.name is not None
        job = await c.batches.create(model=MODEL, src=uploaded.name)
        assert job.name is not None
        for _ in range(2000):
            job = await c.batches.get(name=job.name)
            if job.done:
                break
            await asyncio.sleep(POLL_S)
        assert job.dest is not None and job.dest.file_name is not None
        data = await c.files.download(file=job.dest.file_name)
        assert json.loads(data.decode().splitlines()[0])["key"] == "f"
        names = [b.name async for b in await c.batches.list(config={"page_size": 1})]
        assert job.name in names
        answer = await c.models.generate_content(model=MODEL, contents="hi")
        assert answer.text
        await c.aclose()

    asyncio.run(flow())
