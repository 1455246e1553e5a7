"""Plain successes read as tuples: the same verdict and fields as the general path, for
every shape of line, and the compact stream is the row stream in the same order."""

from __future__ import annotations

import io
from collections.abc import AsyncGenerator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import batchport.backends.openai.results as results_module
from batchport.backends._convert import usage_from, usage_numbers
from batchport.backends.compact import CompactResults, PlainRow, as_result_row
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.models import Job, JobStatus, Outcome, ResultRow
from batchport.backends.openai import OpenAIBackend, parse_line
from batchport.backends.openai.results import read_line, read_lines
from batchport.errors import ResultLineError

odd = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.text(max_size=3))
numbers = st.one_of(st.integers(0, 10**6), odd)
usage = st.one_of(
    odd,
    st.lists(st.integers(), max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "prompt_tokens": numbers,
            "completion_tokens": numbers,
            "input_tokens": numbers,
            "output_tokens": numbers,
            "prompt_tokens_details": st.one_of(
                odd, st.fixed_dictionaries({"cached_tokens": numbers})
            ),
            "input_tokens_details": st.one_of(
                odd, st.fixed_dictionaries({"cached_tokens": numbers})
            ),
            "completion_tokens_details": st.one_of(
                odd, st.fixed_dictionaries({"reasoning_tokens": numbers})
            ),
        },
    ),
)
message = st.one_of(
    odd,
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.just("assistant"),
            "content": st.one_of(st.text(max_size=8), odd, st.lists(st.text(), max_size=1)),
            "refusal": st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=5)),
        },
    ),
)
choice = st.one_of(
    odd,
    st.fixed_dictionaries(
        {},
        optional={
            "finish_reason": st.one_of(
                st.sampled_from(["stop", "length", "content_filter", "tool_calls"]),
                odd,
                st.lists(st.just("stop"), max_size=1),
            ),
            "message": message,
            "text": st.one_of(st.text(max_size=4), odd),
        },
    ),
)
body = st.one_of(
    st.none(),
    odd,
    st.fixed_dictionaries(
        {},
        optional={
            "choices": st.one_of(st.lists(choice, max_size=2), odd),
            "usage": usage,
            "object": st.sampled_from(["chat.completion", "response"]),
            "error": st.fixed_dictionaries({"message": st.text(max_size=3)}),
        },
    ),
)
line = st.fixed_dictionaries(
    {},
    optional={
        "custom_id": st.one_of(st.text(max_size=6), odd),
        "response": st.one_of(
            odd,
            st.fixed_dictionaries(
                {},
                optional={
                    "status_code": st.one_of(st.sampled_from([200, 201, 299, 300, 429, 500]), odd),
                    "body": body,
                },
            ),
        ),
        "error": st.one_of(
            st.none(), odd, st.fixed_dictionaries({"code": odd, "message": st.text(max_size=3)})
        ),
    },
)


def _plain_line() -> dict[str, Any]:
    return {
        "id": "batch_req_1",
        "custom_id": "r1",
        "response": {
            "status_code": 200,
            "request_id": "req_1",
            "body": {
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "hi", "refusal": None},
                    }
                ],
                "usage": {
                    "prompt_tokens": 7,
                    "completion_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": 2},
                    "completion_tokens_details": {"reasoning_tokens": 1},
                },
            },
        },
        "error": None,
    }


# where a plain line can be changed, and the values that matter there (a missing key:
# deleted); any other odd value may land anywhere
_DELETE = object()
_PATHS: dict[tuple[Any, ...], list[Any]] = {
    ("custom_id",): ["", 5, None],
    ("response",): [None, [], "x"],
    ("error",): [{"message": "m"}, {"code": "batch_expired", "message": "m"}, {}, "e"],
    ("response", "status_code"): [199, 201, 299, 300, 404, 503, True, 200.0, "200"],
    ("response", "body"): [None, [], "b", {}],
    ("response", "body", "choices"): [[], {}, None, [1]],
    ("response", "body", "choices", 0): [None, [], "c", {}],
    ("response", "body", "choices", 0, "finish_reason"): ["length", "content_filter", None, []],
    ("response", "body", "choices", 0, "message"): [None, [], "m", {}],
    ("response", "body", "choices", 0, "message", "content"): [None, 5, ["a"], ""],
    ("response", "body", "choices", 0, "message", "refusal"): ["no", "", 0, 1, [], [1]],
    ("response", "body", "usage"): [None, [], 5, {}],
    ("response", "body", "usage", "prompt_tokens"): [None, True, 1.5, "7", 10**12],
    ("response", "body", "usage", "completion_tokens_details"): [
        None,
        [],
        {"reasoning_tokens": True},
    ],
    ("response", "body", "object"): ["response", None],
}
edit = st.sampled_from(sorted(_PATHS)).flatmap(
    lambda path: st.tuples(st.just(path), st.one_of(st.sampled_from([*_PATHS[path], _DELETE]), odd))
)
changes = st.lists(edit, max_size=3)


def _changed(obj: dict[str, Any], edits: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    for path, value in edits:
        node: Any = obj
        for key in path[:-1]:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                break
        else:
            last = path[-1]
            if (isinstance(node, dict) and isinstance(last, str)) or (
                isinstance(node, list) and isinstance(last, int) and len(node) > last
            ):
                if value is _DELETE:
                    if isinstance(node, dict):
                        node.pop(last, None)
                else:
                    node[last] = value
    return obj


def _judged(raw: bytes) -> ResultRow | str:
    try:
        return parse_line(raw, source="file-out", line=4)
    except ResultLineError as exc:
        return f"{exc.rule}: {exc}"


@settings(max_examples=400)
@given(st.one_of(line, changes.map(lambda edits: _changed(_plain_line(), edits))))
def test_a_plain_row_is_what_the_general_path_judges(obj: dict[str, Any]) -> None:
    raw = orjson.dumps(obj)
    try:
        row: ResultRow | PlainRow | None = read_line(raw, source="file-out", line=4)
    except ResultLineError:
        row = None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(results_module, "_plain", lambda *a: None)
        general = _judged(raw)
    if isinstance(row, PlainRow):
        assert as_result_row(row) == general
        assert isinstance(general, ResultRow)
        assert (general.raw, general.body_path, general.source, general.line) == (
            raw,
            ("response", "body"),
            "file-out",
            4,
        )
        assert general.outcome is Outcome.SUCCEEDED
    assert _judged(raw) == general  # parse_line answers alike, plain or not


def _one_by_one(lines: list[bytes], first: int) -> tuple[list[Any], str | None]:
    rows: list[Any] = []
    for lineno, raw in enumerate(lines, first):
        if raw.strip():
            try:
                rows.append(read_line(raw, source="file-out", line=lineno, provider="azure"))
            except ResultLineError as exc:
                return rows, f"{exc.rule} {exc.line}: {exc}"
    return rows, None


chunk_line = st.one_of(
    line.map(orjson.dumps),
    changes.map(lambda edits: orjson.dumps(_changed(_plain_line(), edits))),
    st.sampled_from(
        [b"", b"  ", b"\r", b"{oops", b"[]", b"\xef\xbb\xbf" + orjson.dumps(_plain_line())]
    ),
)


@settings(max_examples=200)
@given(st.lists(chunk_line, max_size=8), st.integers(1, 5))
def test_a_chunk_read_at_once_is_its_lines_read_one_by_one(lines: list[bytes], first: int) -> None:
    rows: list[ResultRow | PlainRow] = []
    try:
        read_lines(lines, first, rows, source="file-out", provider="azure")
        problem = None
    except ResultLineError as exc:
        problem = f"{exc.rule} {exc.line}: {exc}"
    assert (rows, problem) == _one_by_one(lines, first)
    assert [type(r) for r in rows] == [type(r) for r in _one_by_one(lines, first)[0]]


def test_the_common_line_is_plain() -> None:
    raw = orjson.dumps(
        {
            "id": "batch_req_1",
            "custom_id": "r1",
            "response": {
                "status_code": 200,
                "body": {
                    "choices": [{"finish_reason": "stop", "message": {"content": "hi"}}],
                    "usage": {
                        "prompt_tokens": 7,
                        "completion_tokens": 3,
                        "prompt_tokens_details": {"cached_tokens": 2},
                        "completion_tokens_details": {"reasoning_tokens": 1},
                    },
                },
            },
            "error": None,
        }
    )
    row = read_line(raw, source="f", line=1)
    assert isinstance(row, PlainRow)
    assert (row.custom_id, row.status_code, row.text, row.usage) == ("r1", 200, "hi", (7, 3, 2, 1))


@given(usage)
def test_usage_numbers_read_what_usage_from_reads(value: Any) -> None:
    if type(value) is dict:
        u = usage_from(value)
        assert u is not None
        assert usage_numbers(value) == (
            u.input_tokens,
            u.output_tokens,
            u.cached_tokens,
            u.reasoning_tokens,
        )
        assert u.cache_write_tokens == 0


def test_a_bom_or_broken_line_still_gets_its_error() -> None:
    with pytest.raises(ResultLineError) as info:
        read_line(b'{"custom_id": ', source="f", line=2)
    assert info.value.rule == "result_invalid_json"
    row = read_line(b'\xef\xbb\xbf{"custom_id":"a","response":null,"error":{"message":"m"}}')
    assert isinstance(row, ResultRow) and row.outcome is Outcome.FAILED


async def test_compact_results_are_the_results_in_order() -> None:
    """Against the emulator, half its rows failing: the same rows in the same order,
    the plain successes as tuples."""
    faults = {"row_failure_rate": 0.5, "row_failure_statuses": [500]}
    async with EmulatorBackend({"seed": 3, "faults": faults}) as backend:
        assert isinstance(backend, CompactResults)
        job = await _finished_job(backend)
        rows = [r async for r in backend.results(job)]
        compact = [r async for batch in backend.compact_results(job) for r in batch]
    assert [as_result_row(r) if isinstance(r, PlainRow) else r for r in compact] == rows
    assert len(rows) == 40
    kinds = {isinstance(r, PlainRow) for r in compact}
    assert kinds == {True, False}
    assert all(r.ok == isinstance(c, PlainRow) for r, c in zip(rows, compact, strict=True))


def test_a_subclass_that_judges_its_own_lines_gets_its_rows() -> None:
    class Own(OpenAIBackend):
        def parse_line(self, raw: bytes, *, source: str, line: int) -> ResultRow:
            return ResultRow("x", Outcome.FAILED)

    assert Own.parse_line is not OpenAIBackend.parse_line  # compact_results defers to results


async def _finished_job(backend: OpenAIBackend) -> Job:
    lines = b"".join(
        orjson.dumps(
            {
                "custom_id": f"r{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            }
        )
        + b"\n"
        for i in range(40)
    )
    client = await backend._sdk()
    uploaded = await client.files.create(file=("in.jsonl", io.BytesIO(lines)), purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    job = backend.job_from_dict(batch.model_dump(mode="json"))
    for _ in range(100):
        if job.status.is_terminal:
            return job
        if backend.emulator is not None:
            backend.emulator.advance_clock(5.0)
        job = await backend.poll(job)
    raise AssertionError(f"the batch did not finish: {job.status}")


class _Lines(OpenAIBackend):
    """An OpenAI backend whose every file holds ``data``."""

    def __init__(self, data: bytes) -> None:
        super().__init__(api_key="sk-test")
        self.data = data

    async def stream_file(self, file_id: str) -> AsyncGenerator[bytes, None]:
        yield self.data


async def test_a_bad_line_raises_after_the_rows_before_it() -> None:
    good = orjson.dumps(_plain_line())
    backend = _Lines(good + b"\n\n" + good.replace(b'"r1"', b'"r2"') + b"\n{oops\n" + good)
    job = Job("batch_1", JobStatus.COMPLETED, refs={"output": "file-out"})
    stream = backend.compact_results(job)
    first = await anext(stream)
    assert [r.custom_id for r in first] == ["r1", "r2"]
    assert [r.line for r in first] == [1, 3]  # the blank line is counted, not read
    with pytest.raises(ResultLineError) as info:
        await anext(stream)
    assert (info.value.rule, info.value.line) == ("result_invalid_json", 4)
    await stream.aclose()
    await backend.aclose()


async def test_a_line_split_across_chunks_and_a_last_line_without_newline() -> None:
    good = orjson.dumps(_plain_line())

    class Chunks(_Lines):
        async def stream_file(self, file_id: str) -> AsyncGenerator[bytes, None]:
            for k in range(0, len(self.data), 7):
                yield self.data[k : k + 7]

    backend = Chunks(good + b"\n" + good.replace(b'"r1"', b'"r2"'))
    job = Job("batch_1", JobStatus.COMPLETED, refs={"output": "f", "error": "g"})
    rows = [r async for batch in backend.compact_results(job) for r in batch]
    assert [r.custom_id for r in rows] == ["r1", "r2", "r1", "r2"]  # output, then error file
    assert all(isinstance(r, PlainRow) for r in rows)
    assert [as_result_row(r) for r in rows if isinstance(r, PlainRow)] == [
        r async for r in backend.results(job)
    ]
    await backend.aclose()
