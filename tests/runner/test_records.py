"""Result blob records: whatever lines go in come back by (offset, length), in any
order, whether the blob ended up compressed or plain; plain blobs written before the
format existed read as they did; a blob cut short says so instead of crashing."""

from __future__ import annotations

import io
import random

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from batchport.errors import RunError
from batchport.runner import records
from batchport.runner.records import FRAME_MAGIC, BlobRecords, DamagedBlobError, RecordWriter


class _Out(io.BytesIO):
    """A blob that keeps the size of each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes.append(len(data))
        return super().write(data)


def _write(lines: list[bytes], **kw: int) -> tuple[bytes, list[tuple[int, int]], bool, int]:
    """The blob, each line's (offset, length), whether it compressed, and the flushes."""
    out = _Out()
    flushes: list[int] = []
    w = RecordWriter(out, flushed=lambda: flushes.append(len(out.writes)), **kw)
    spans, offset = [], 0
    for line in lines:
        n = w.add(line)
        spans.append((offset, n))
        offset += n
    w.close()
    # the callback follows every write but the last, made by close()
    assert flushes == list(range(1, len(out.writes)))
    chunk = kw.get("chunk", records.CHUNK)
    assert all(n >= chunk for n in out.writes[:-1])
    return out.getvalue(), spans, w.compressed, len(flushes)


def _read_all(blob: bytes, spans: list[tuple[int, int]], order: list[int]) -> dict[int, bytes]:
    reader = BlobRecords(io.BytesIO(blob), "r/results/s0000.jsonl")
    try:
        return {i: reader.read(*spans[i]) for i in order}
    finally:
        reader.close()


def _result_line(i: int, text: str) -> bytes:
    """A line shaped like the runner's own (an id, a text, a provider line)."""
    head = {"custom_id": f"req-{i}", "status_code": 200, "error": None, "text": text}
    line = {"id": f"batch_req_{i:032x}", "custom_id": f"req-{i}", "response": {"body": text}}
    return orjson.dumps(head)[:-1] + b',"line":' + orjson.dumps(line) + b"}\n"


def _raw_count(lines: list[bytes]) -> int:
    """How many lines a blob keeps raw: RAW_LINES, or fewer once they are long."""
    n = size = 0
    for line in lines:
        if n >= records.RAW_LINES or (size >= records.RAW_BYTES and n >= records.MIN_SAMPLES):
            break
        n, size = n + 1, size + len(line)
    return n


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
long_texts = st.builds(lambda t, n: t * n, st.text(min_size=1, max_size=8), st.integers(1, 8_000))
line_bytes = st.one_of(
    st.builds(lambda t: t.encode() + b"\n", texts),  # any text line
    st.builds(lambda t: orjson.dumps({"t": t}) + b"\n", st.one_of(texts, long_texts)),
    st.builds(_result_line, st.integers(0, 10**6), st.one_of(texts, long_texts)),
    st.just(b""),
    st.just(b"{}\n"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(line_bytes, max_size=60),
    st.integers(1, 12),
    st.integers(1, 4096),
    st.randoms(use_true_random=False),
)
def test_any_lines_read_back_by_their_ranges_in_any_order(
    lines: list[bytes], raw_lines: int, chunk: int, rnd: random.Random
) -> None:
    lines = [ln for ln in lines if not ln.startswith(FRAME_MAGIC)]
    blob, spans, compressed, _ = _write(lines, raw_lines=raw_lines, chunk=chunk)
    event("compressed" if compressed else "plain")
    order = list(range(len(lines)))
    rnd.shuffle(order)
    assert _read_all(blob, spans, order) == dict(enumerate(lines))
    if len(lines) <= raw_lines:  # too few lines for a dictionary: plain JSONL, as before
        assert blob == b"".join(lines)
        assert not compressed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(texts, long_texts), min_size=1, max_size=20),
    st.sampled_from([0, 1, 199, 200, 201, 202, 450]),
    st.randoms(use_true_random=False),
)
def test_result_lines_around_the_raw_count_read_back(
    words: list[str], count: int, rnd: random.Random
) -> None:
    lines = [_result_line(i, words[i % len(words)] + f" {i}") for i in range(count)]
    blob, spans, compressed, _ = _write(lines)
    order = list(range(count))
    rnd.shuffle(order)
    assert _read_all(blob, spans, order) == dict(enumerate(lines))
    raw = _raw_count(lines)
    assert compressed == (count > raw)
    assert blob[: sum(map(len, lines[:raw]))] == b"".join(lines[:raw])  # the first lines raw
    if count <= raw:
        assert blob == b"".join(lines)


def test_similar_lines_compress_several_times_and_writes_come_in_chunks() -> None:
    lines = [
        _result_line(i, "Harbor sage cloud orbit saffron linen citrus " * 3) for i in range(5000)
    ]
    blob, spans, compressed, flushes = _write(lines, chunk=1 << 14)
    assert compressed
    assert len(blob) * 4 < sum(map(len, lines))
    assert all(blob[o : o + n].startswith(FRAME_MAGIC) for o, n in spans[records.RAW_LINES :])
    assert flushes >= 10
    assert _read_all(blob, spans, list(range(len(lines)))[::-1]) == dict(enumerate(lines))


def test_a_plain_blob_written_before_the_format_reads_as_it_did() -> None:
    lines = [_result_line(i, "ü" * i) for i in range(500)]
    blob, spans = b"".join(lines), []
    offset = 0
    for line in lines:
        spans.append((offset, len(line)))
        offset += len(line)
    assert _read_all(blob, spans, list(range(500))) == dict(enumerate(lines))


def test_switched_off_the_blob_is_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "COMPRESS", False)
    lines = [_result_line(i, "same words") for i in range(600)]
    blob, _, compressed, _ = _write(lines)
    assert blob == b"".join(lines) and not compressed


def test_a_raw_record_may_not_look_like_a_frame() -> None:
    with pytest.raises(ValueError, match="zstd frame magic"):
        RecordWriter(io.BytesIO()).add(FRAME_MAGIC + b"x\n")


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**9), st.randoms(use_true_random=False))
def test_a_blob_cut_short_reads_right_or_says_it_is_damaged(cut: int, rnd: random.Random) -> None:
    lines = [_result_line(i, "words and words " * (i % 9)) for i in range(260)]
    blob, spans, compressed, _ = _write(lines)
    assert compressed
    blob = blob[: cut % len(blob)]
    order = list(range(len(lines)))
    rnd.shuffle(order)
    reader = BlobRecords(io.BytesIO(blob), "r/results/s0001.jsonl")
    damaged: list[str] = []
    for i in order:
        try:
            assert reader.read(*spans[i]) == lines[i]
        except DamagedBlobError as exc:
            damaged.append(str(exc))
    assert all("'r/results/s0001.jsonl' is damaged" in e and "cut short" in e for e in damaged)
    assert issubclass(DamagedBlobError, RunError)


def test_a_blob_whose_trailer_is_not_ours_is_damaged() -> None:
    lines = [_result_line(i, "x y z " * 5) for i in range(300)]
    blob, spans, _, _ = _write(lines)
    bad = blob[:-28] + b"\x00" * 28
    with pytest.raises(DamagedBlobError, match="no dictionary"):
        _read_all(bad, spans, [299])
    newer = blob[:-16] + b"\x07" + blob[-15:]  # version 7
    with pytest.raises(DamagedBlobError, match="version 7"):
        _read_all(newer, spans, [299])
    assert _read_all(newer, spans, [0]) == {0: lines[0]}  # raw lines need no dictionary


@settings(max_examples=200)
@given(
    idx=st.integers(0, (1 << 48) - 1),
    pos=st.integers(1, (1 << 32) - 1),
    attempt=st.integers(1, 1000),
    custom_id=st.text(max_size=20),
)
def test_a_pending_row_packed_for_collection_unpacks_the_same(
    idx: int, pos: int, attempt: int, custom_id: str
) -> None:
    from batchport.store import PendingRow

    row = PendingRow(idx, custom_id, pos, attempt)
    assert PendingRow.unpack(custom_id, PendingRow.pack(idx, pos, attempt)) == row
