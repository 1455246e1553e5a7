"""Properties: the validator survives anything; whatever the builder writes validates."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from batchport.builder import BatchBuilder
from batchport.limits import PROVIDERS
from batchport.requests import Request
from batchport.validate import RequestChecker, validate_file

KNOWN_CODES = {code for profile in PROVIDERS.values() for code in profile.codes.values()}


def _check(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.jsonl"
        path.write_bytes(data)
        for provider in PROVIDERS:
            report = validate_file(path, provider=provider)
            assert report.problem_count == len(report.problems)
            assert report.bytes == len(data)
            for problem in report.problems:
                assert problem.code in KNOWN_CODES
                assert problem.code == PROVIDERS[provider].codes[problem.rule]  # type: ignore[index]
                assert problem.line is None or 1 <= problem.line <= report.lines
                assert problem.message
            assert report.ok == (not report.problems)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    _check(data)


scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["model", "messages", "input", "stream", "prompt", "x"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=10,
)
line_objects = st.fixed_dictionaries(
    {},
    optional={
        "custom_id": st.sampled_from(["a", "b", ""]) | json_values,
        "method": st.sampled_from(["POST", "GET"]) | json_values,
        "url": st.sampled_from(
            ["/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/v1/x"]
        )
        | json_values,
        "body": st.dictionaries(
            st.sampled_from(["model", "messages", "input", "stream", "max_tokens", "n"]),
            st.sampled_from(["gpt-4o", "m2", True, 3, [1, 2], [], ["a"]]) | json_values,
            max_size=5,
        )
        | json_values,
    },
)


# json (not orjson) so that integers beyond 64 bits reach the validator too
def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


whole_lines = st.fixed_dictionaries(
    {
        "custom_id": st.sampled_from(["a", "b", "", "a b"]) | json_values,
        "method": st.sampled_from(["POST", "GET"]) | json_values,
        "url": st.sampled_from(
            ["/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/v1/messages"]
        )
        | json_values,
        "body": line_objects.map(lambda line: line.get("body", {})),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(whole_lines, max_size=6),
    provider=st.sampled_from(sorted(PROVIDERS)),
    ids_mapped=st.booleans(),
)
def test_checker_reads_a_request_as_its_dict(
    lines: list[dict[str, Any]], provider: str, ids_mapped: bool
) -> None:
    """The runner hands the checker its Request; a caller, the line's parsed dict."""
    from_requests = RequestChecker("<r>", provider, ids_mapped=ids_mapped)
    from_dicts = RequestChecker("<r>", provider, ids_mapped=ids_mapped)
    for number, line in enumerate(lines, 1):
        raw = _dumps(line)
        from_requests.check(number, raw, Request(**line))
        from_dicts.check(number, raw, line)
    assert from_requests.report() == from_dicts.report()


raw_lines = line_objects.map(_dumps) | json_values.map(_dumps) | st.binary(max_size=30)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(raw_lines, max_size=8), bom=st.booleans(), crlf=st.booleans())
def test_structured_garbage_never_crashes(lines: list[bytes], bom: bool, crlf: bool) -> None:
    sep = b"\r\n" if crlf else b"\n"
    _check((b"\xef\xbb\xbf" if bom else b"") + sep.join(lines))


class Verdict(BaseModel):
    label: Literal["good", "bad"]
    reasons: list[str]


texts = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60
) | st.sampled_from(
    ["{}", "{x}", '{"a": 1}', "}{", "画面 ünï 👍", "\u2028line\u2029sep", "tab\tand\nnewline"]
)
kinds = st.sampled_from(
    ["responses.parse", "responses.create", "chat.parse", "chat.create", "embeddings"]
)


def _add(builder: BatchBuilder, kind: str, text: str, custom_id: str | None, image: bool) -> None:
    content: Any = text
    if image:
        content = [
            {"type": "input_text", "text": text},
            {
                "type": "input_image",
                "image_url": "data:image/png;base64,iVBORw0KGgo=",
                "detail": "low",
            },
        ]
    if kind == "responses.parse":
        builder.responses.parse(
            custom_id=custom_id,
            model="m",
            input=[{"role": "user", "content": content}],
            text_format=Verdict,
        )
    elif kind == "responses.create":
        builder.responses.create(custom_id=custom_id, model="m", input=text, instructions=text)
    elif kind == "chat.parse":
        builder.chat.completions.parse(
            custom_id=custom_id,
            model="m",
            messages=[{"role": "user", "content": text}],
            response_format=Verdict,
        )
    elif kind == "chat.create":
        builder.chat.completions.create(
            custom_id=custom_id,
            model="m",
            messages=[{"role": "user", "content": text}],
            max_tokens=9,
        )
    else:
        builder.embeddings.create(custom_id=custom_id, model="m", input=[text, text])


@settings(max_examples=60, deadline=None)
@given(
    kind=kinds,
    items=st.lists(st.tuples(texts, st.booleans(), st.booleans()), min_size=1, max_size=12),
)
def test_builder_files_always_validate(kind: str, items: list[tuple[str, bool, bool]]) -> None:
    builder = BatchBuilder()
    for n, (text, explicit, image) in enumerate(items):
        _add(builder, kind, text, f"id-{n}" if explicit else None, image)
    with tempfile.TemporaryDirectory() as tmp:
        stats = builder.write(Path(tmp) / "b.jsonl")
        report = validate_file(stats.path)
        assert report.ok, [str(p) for p in report.problems]
        assert report.requests == len(builder) == stats.requests
        if kind != "embeddings":
            assert validate_file(stats.path, provider="azure").ok
