"""BatchWriter: the builder's call shapes, written to a file as they are made."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from pydantic import BaseModel

import batchport as bp
from batchport.backends.memory import MemoryBackend
from batchport.errors import InputError
from batchport.runner import InstantClock


class Sentiment(BaseModel):
    label: str


def _fill(reqs: bp.BatchBuilder, n: int) -> None:
    for i in range(n):
        reqs.chat.completions.create(
            custom_id=f"c{i}", model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"hi {i}"}],
        )  # fmt: skip
    reqs.responses.parse(custom_id="p", model="gpt-4o-mini", input="x", text_format=Sentiment)


def test_the_file_holds_what_a_builder_would_write(tmp_path: Path) -> None:
    built = bp.BatchBuilder()
    _fill(built, 5)
    with bp.BatchWriter(tmp_path / "w.jsonl") as writer:
        _fill(writer, 5)
        assert len(writer) == 6 and "c3" in writer
        assert not (tmp_path / "w.jsonl").exists()  # not before it closes
    stats = writer.close()  # a second close changes nothing
    data = (tmp_path / "w.jsonl").read_bytes()
    assert data == b"".join(r.to_json() + b"\n" for r in built)
    assert (stats.requests, stats.bytes) == (6, len(data))
    assert stats.sha256 == hashlib.sha256(data).hexdigest()
    assert [r.custom_id for r in writer] == [r.custom_id for r in built]
    assert dict(writer.output_models) == {"p": Sentiment}
    assert os.fspath(writer) == str(tmp_path / "w.jsonl")


def test_a_duplicate_is_refused_at_the_call_and_an_error_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "w.jsonl"
    target.write_bytes(b"old\n")
    writer = bp.BatchWriter(target)
    _fill(writer, 2)
    with pytest.raises(InputError, match="duplicate custom_id 'c1'"):
        writer.chat.completions.create(custom_id="c1", model="gpt-4o-mini", messages=[])
    with pytest.raises(RuntimeError), writer:  # the block fails: nothing is written
        raise RuntimeError("stop")
    assert target.read_bytes() == b"old\n"  # left as it was
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_an_open_writer_cannot_be_run_and_a_closed_one_takes_no_more(tmp_path: Path) -> None:
    w = bp.BatchWriter(tmp_path / "w.jsonl")
    _fill(w, 1)
    with pytest.raises(InputError, match="still open") as err:
        os.fspath(w)
    assert err.value.rule == "writer_open"
    w.close()
    with pytest.raises(InputError, match="closed") as err:
        _fill(w, 1)
    assert err.value.rule == "writer_closed"
    with pytest.raises(InputError, match="no requests"):
        bp.BatchWriter(tmp_path / "empty.jsonl").close()
    assert not (tmp_path / "empty.jsonl").exists()
    with pytest.raises(InputError, match="does not keep"):
        w.groups()


async def test_a_run_streams_the_file_and_parses_structured_rows(tmp_path: Path) -> None:
    with bp.BatchWriter(tmp_path / "w.jsonl") as writer:
        _fill(writer, 3)

    def respond(request: dict[str, object]) -> bp.ResultRow:
        from batchport.backends.openai import row_from_response

        text = '{"label": "positive"}'
        body = {"object": "response", "status": "completed",
                "output": [{"type": "message", "role": "assistant", "status": "completed",
                            "content": [{"type": "output_text", "text": text}]}]}  # fmt: skip
        return row_from_response(str(request["custom_id"]), 200, body)

    async with MemoryBackend(respond) as backend:
        run = await bp.run(writer, backend=backend, home=tmp_path / "home",
                           clock=InstantClock(), progress=False)  # fmt: skip
    with run:
        assert run.outcomes == {"succeeded": 4}
        parsed = {r.custom_id: r.parsed for r in run.results()}
        assert parsed["p"] == Sentiment(label="positive")
        assert run.store.get_run(run.id).source == str((tmp_path / "w.jsonl").resolve())


def test_generated_ids_repeat_like_the_builders(tmp_path: Path) -> None:
    built = bp.BatchBuilder()
    with bp.BatchWriter(tmp_path / "w.jsonl") as writer:
        for reqs in (built, writer):
            for _ in range(3):  # identical requests: -2, -3 suffixes
                reqs.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert [r.custom_id for r in writer] == [r.custom_id for r in built]
    assert len({r.custom_id for r in built}) == 3


class _SameHash(str):
    def __hash__(self) -> int:  # every id collides
        return 7


def test_ids_whose_hashes_meet_are_told_apart_by_the_file(tmp_path: Path) -> None:
    from batchport.writer import _Ids

    asked: list[str] = []

    def written(cid: str) -> bool:
        asked.append(cid)
        return cid == "a"

    ids = _Ids(written)
    ids.add(_SameHash("a"))
    ids.add(_SameHash("b"))  # its hash is taken: kept whole
    assert _SameHash("b") in ids and asked == []
    assert _SameHash("a") in ids and asked == ["a"]  # checked against the file
    assert _SameHash("c") not in ids
    assert "zz" not in ids  # another hash: no reading at all
    with bp.BatchWriter(tmp_path / "w.jsonl") as writer:
        _fill(writer, 3)
        assert writer._in_file("c1") and not writer._in_file("c9")
