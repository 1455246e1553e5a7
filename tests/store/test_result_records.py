"""Compressed result blobs in every store: records spread over several PostgreSQL
chunks read back by range in any order, the dictionary found at the blob's end."""

from __future__ import annotations

import random

import orjson

from batchport.runner.records import RecordWriter
from batchport.runner.results import _LineReader
from batchport.store import RunStore

KEY = "r/results/s0000.jsonl"


def test_a_compressed_result_blob_reads_back_in_any_order(store: RunStore) -> None:
    rng = random.Random(5)
    words = [f"wörd{n}" for n in range(300)]
    lines = [
        orjson.dumps({"custom_id": f"c{i}", "text": " ".join(rng.choices(words, k=i % 150))})
        + b"\n"
        for i in range(6000)
    ]
    spans, offset = [], 0
    with store.blobs.writer(KEY) as out:
        writer = RecordWriter(out)
        for line in lines:
            n = writer.add(line)
            spans.append((offset, n))
            offset += n
        writer.close()
    assert writer.compressed
    assert offset < sum(map(len, lines)) // 3
    assert offset > 1 << 20  # more than one PostgreSQL chunk
    order = list(range(len(lines)))
    rng.shuffle(order)
    reader = _LineReader(store.blobs)
    try:
        assert [reader.read(KEY, *spans[i]) for i in order] == [lines[i] for i in order]
    finally:
        reader.close()
