"""Compressed result blobs through the runner, against the embedded emulator: a run
reads back exactly what it reads with compression off (bodies, texts, raw lines, error
rows), and a result blob cut short stops ``results()`` with an error naming the row."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.runner import InstantClock, Outcome, Run, collect, records
from batchport.runner.records import DamagedBlobError, RecordWriter
from batchport.runner.results import RunResult, _LineReader
from batchport.store.blobs import LocalBlobs
from batchport_emulator import state as emulator_state

from .conftest import chat

ROWS, PER_SHARD = 700, 300  # shards of 300, 300 and 100 rows: two above RAW_LINES, one below


def _requests() -> list[bp.Request]:
    reqs = [chat(i, f"review {i}: {'ünïcode ' * (i % 4)}") for i in range(ROWS)]
    reqs[7] = chat(7, "x [[emulator:refuse]]")
    reqs[250] = chat(250, "x [[emulator:truncate]]")
    reqs[401] = chat(401, "x [[emulator:content_filter]]")
    reqs[650] = chat(650, "always broken [[emulator:status=500]]")
    return reqs


@pytest.fixture
def frozen_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake bodies stamped at one time, so two runs give the same bodies."""
    make = emulator_state.make_responder

    def at_one_time(*args: Any, **kwargs: Any) -> Any:
        kwargs["clock"] = lambda: 1_800_000_000.0
        return make(*args, **kwargs)

    monkeypatch.setattr(emulator_state, "make_responder", at_one_time)


async def _run(home: Path, clock: InstantClock) -> tuple[Run, list[RunResult]]:
    # seeded: the same ids, the same shuffled order and the same row failures each time
    cfg = {
        "seed": 11,
        "id_seed": 12,
        "faults": {"row_failure_rate": 0.1, "row_failure_statuses": [400, 500]},
    }
    backend = EmulatorBackend(cfg)
    try:
        run = await bp.run(
            _requests(),
            backend=backend,
            home=home,
            clock=clock,
            progress=False,
            max_rows_per_shard=PER_SHARD,
            max_concurrent_shards=1,  # batches numbered in one order: the same faults each time
            max_attempts=1,  # and no child batches
        )
    finally:
        await backend.aclose()
    return run, list(run.results())


def _keeping(written: dict[tuple[str, int], bytes], opened: list[str]) -> type[RecordWriter]:
    """A RecordWriter that also keeps every line it is given, by blob and offset (the
    collector makes one as soon as it opens the blob: its key is the last opened)."""

    class Keeping(RecordWriter):
        __slots__ = ("_at", "_name")

        def __init__(self, out: Any, **kwargs: Any) -> None:
            super().__init__(out, **kwargs)
            self._name = opened[-1]
            self._at = 0

        def add(self, line: bytes) -> int:
            written[self._name, self._at] = line
            n = super().add(line)
            self._at += n
            return n

    return Keeping


_IDS = re.compile(rb'"(id|request_id)":"(batch_req|req)_[0-9a-f]+"')


def _sans_ids(raw: bytes) -> bytes:
    return _IDS.sub(b"", raw)


def _result_blobs(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(home.rglob("results/*.jsonl"))}


@pytest.mark.usefixtures("frozen_bodies")
async def test_results_are_the_same_with_compression_off_and_on(
    tmp_path: Path, clock: InstantClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(records, "COMPRESS", False)
        _, before = await _run(tmp_path / "off", clock)
    written: dict[tuple[str, int], bytes] = {}  # (blob key, offset) -> the line given
    opened: list[str] = []  # the keys of blobs opened for writing, latest last
    open_writer = LocalBlobs.writer

    def writer(self: LocalBlobs, key: str, *, compressed: bool = False) -> Any:
        opened.append(key)
        return open_writer(self, key, compressed=compressed)

    monkeypatch.setattr(LocalBlobs, "writer", writer)
    monkeypatch.setattr(collect, "RecordWriter", _keeping(written, opened))
    run, after = await _run(tmp_path / "on", clock)

    assert len(after) == ROWS
    assert after == before
    # raw is left out of ==; the provider's own ids in it differ from run to run
    assert [_sans_ids(r.raw) for r in after] == [_sans_ids(r.raw) for r in before]
    outcomes = {r.outcome for r in after}
    assert {Outcome.SUCCEEDED, Outcome.FAILED} <= outcomes
    assert any(r.error is not None and r.body is not None for r in after)  # error rows' bodies
    assert all(r.text for r in after if r.ok)
    assert sorted(r.index for r in run.results(order="landed")) == list(range(ROWS))

    # every record reads back as the very line the collector gave the writer, though
    # records are read out of the order they were written (the provider's)
    rows = [r for r in run.store.iter_rows(run.id) if r.result_key]
    assert len(rows) == ROWS
    offsets = [r.result_offset for r in rows if r.result_key == rows[0].result_key]
    assert offsets != sorted(offsets)
    reader = _LineReader(run.store.blobs)
    try:
        for r in rows:
            assert r.result_key and r.result_offset is not None and r.result_length
            line = reader.read(r.result_key, r.result_offset, r.result_length)
            assert line == written[r.result_key, r.result_offset]
    finally:
        reader.close()

    plain, packed = _result_blobs(tmp_path / "off"), _result_blobs(tmp_path / "on")
    assert plain.keys() == packed.keys()
    big = [name for name, data in plain.items() if data.count(b"\n") > records.RAW_LINES]
    assert len(big) == 2  # the first two shards
    for name, data in plain.items():
        if name in big:  # 200 lines raw, 100 compressed, the dictionary and trailer
            assert len(packed[name]) < len(data)
            assert packed[name][-20:-16] == b"BPR1"  # the trailer
        else:
            # too few lines for a dictionary: plain JSONL (the provider's ids aside)
            assert _sans_ids(packed[name]) == _sans_ids(data)


@pytest.mark.usefixtures("frozen_bodies")
async def test_a_result_blob_cut_short_stops_results_naming_the_row(
    tmp_path: Path, clock: InstantClock
) -> None:
    home = tmp_path / "home"
    run, _ = await _run(home, clock)
    blobs = run.store.blobs
    assert isinstance(blobs, LocalBlobs)
    first = next(r for r in run.store.iter_rows(run.id) if r.result_key)
    assert first.result_key is not None
    path = blobs.path(first.result_key)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # the end, dictionary and all, is gone
    with pytest.raises(DamagedBlobError, match=r"row \d+ \('r\d{5}'\): result blob .* damaged"):
        list(run.results())


def test_a_plain_result_blob_cut_short_is_damaged_too(tmp_path: Path) -> None:
    """What blobs written before the format get when cut short: the same error."""
    blobs = LocalBlobs(tmp_path)
    with blobs.writer("r/results/s0000.jsonl") as out:
        writer = RecordWriter(out, compress=False)
        sizes = [writer.add(b'{"custom_id":"a","text":"%d"}\n' % i) for i in range(3)]
        writer.close()
    path = blobs.path("r/results/s0000.jsonl")
    path.write_bytes(path.read_bytes()[:-5])
    reader = _LineReader(blobs)
    try:
        assert reader.read("r/results/s0000.jsonl", 0, sizes[0]).endswith(b'"0"}\n')
        with pytest.raises(DamagedBlobError, match="cut short"):
            reader.read("r/results/s0000.jsonl", sum(sizes[:2]), sizes[2])
    finally:
        reader.close()
