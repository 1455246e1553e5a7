"""Streaming reads and atomic writes of JSONL batch files."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchport.errors import InputError
from batchport.jsonl import atomic_writer, iter_lines, read_requests, write_requests
from batchport.requests import Endpoint, Request


def _req(i: int, text: str = "hello") -> Request:
    return Request.build(f"r{i}", Endpoint.EMBEDDINGS, {"model": "m", "input": text})


def test_iter_lines_numbers_from_one_and_strips_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"a\r\nb\n\n  c  \nlast")
    assert list(iter_lines(path)) == [(1, b"a"), (2, b"b"), (3, b""), (4, b"  c  "), (5, b"last")]


def test_iter_lines_missing_file_is_a_clear_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        list(iter_lines(tmp_path / "nope.jsonl"))
    assert info.value.rule == "file_not_found"
    assert "nope.jsonl" in str(info.value)
    with pytest.raises(InputError, match="directory"):
        list(iter_lines(tmp_path))


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    reqs = [_req(i, f"text {i} {{braces}} ünïcödé") for i in range(100)]
    stats = write_requests(tmp_path / "out.jsonl", reqs)
    data = (tmp_path / "out.jsonl").read_bytes()
    assert stats.requests == 100
    assert stats.bytes == len(data)
    assert stats.sha256 == hashlib.sha256(data).hexdigest()
    assert data.count(b"\n") == 100
    assert data.endswith(b"\n")
    assert list(read_requests(tmp_path / "out.jsonl")) == reqs


def test_rewrite_replaces_never_appends(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_requests(path, [_req(i) for i in range(5)])
    write_requests(path, [_req(i) for i in range(5)])
    assert len(list(read_requests(path))) == 5


def test_crash_mid_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_requests(path, [_req(0)])
    before = path.read_bytes()

    def exploding() -> object:
        yield _req(1)
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_requests(path, exploding())  # type: ignore[arg-type]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_unserializable_body_writes_nothing(tmp_path: Path) -> None:
    bad = Request(custom_id="x", url="/v1/embeddings", body={"input": {1, 2}})
    with pytest.raises(InputError, match="'x'"):
        write_requests(tmp_path / "out.jsonl", [_req(0), bad])
    assert list(tmp_path.iterdir()) == []


def test_atomic_writer_gives_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "plain.bin"
    with atomic_writer(path) as handle:
        handle.write(b"abc")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert path.read_bytes() == b"abc"


def test_large_write_streams_in_chunks(tmp_path: Path) -> None:
    text = "x" * 5_000
    stats = write_requests(tmp_path / "big.jsonl", (_req(i, text) for i in range(700)))
    assert stats.bytes > 3 * 1024 * 1024  # crosses several 1 MiB chunks
    assert sum(1 for _ in read_requests(tmp_path / "big.jsonl")) == 700


def test_read_skips_blank_lines_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _req(1).to_json() + b"\n\n" + _req(2).to_json() + b"\n")
    assert [r.custom_id for r in read_requests(path)] == ["r1", "r2"]


def test_read_reports_path_line_rule(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(_req(1).to_json() + b"\n{broken\n")
    reader = read_requests(path)
    assert next(reader).custom_id == "r1"
    with pytest.raises(InputError) as info:
        next(reader)
    assert (info.value.line, info.value.rule) == (2, "invalid_json_line")
    assert str(info.value).startswith(f"{path}:2: invalid_json_line: ")


texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(items=st.lists(st.tuples(st.text(min_size=1, max_size=20), texts), max_size=20))
def test_round_trip_property(tmp_path: Path, items: list[tuple[str, str]]) -> None:
    reqs = [Request.build(cid, Endpoint.MODERATIONS, {"input": text}) for cid, text in items]
    path = tmp_path / "prop.jsonl"
    write_requests(path, reqs)
    assert list(read_requests(path)) == reqs
