"""Downloading a shard's output and error files, checked before they are trusted.

Each file streams to ``<run dir>/results/<shard>.<kind>.jsonl.part`` and is renamed
into place only after it checks out: every line is a JSON object whose ``custom_id``
belongs to the shard, no id appears twice, and there are no more lines than rows. A
truncated or corrupted download (or a full disk) is fetched again; a file already in
place from before a crash is not fetched twice.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from batchport.errors import RunError
from batchport.store import ShardRecord

if TYPE_CHECKING:
    from batchport.runner.engine import Engine

__all__ = ["download_results", "result_path"]

log = logging.getLogger("batchport.runner")
_TRIES = 3


def result_path(engine_run_dir: Path, shard_id: str, kind: str) -> Path:
    folder = engine_run_dir / "results"
    folder.mkdir(exist_ok=True)
    return folder / f"{shard_id}.{kind}.jsonl"


async def download_results(engine: Engine, shard: ShardRecord) -> None:
    run_dir = engine.store.run_dir(engine.run_id)
    files = (("output", shard.output_file_id), ("error", shard.error_file_id))
    wanted = [(kind, fid) for kind, fid in files if fid]
    if not wanted:
        return
    ids = engine.store.shard_custom_ids(engine.run_id, shard.shard_id)
    for kind, fid in wanted:
        dest = result_path(run_dir, shard.shard_id, kind)
        if dest.exists():
            continue
        await _fetch_checked(engine, str(fid), dest, ids, shard.rows)


async def _fetch_checked(
    engine: Engine, file_id: str, dest: Path, ids: set[str], rows: int
) -> None:
    part = dest.with_name(dest.name + ".part")
    problem = ""
    for attempt in range(1, _TRIES + 1):
        try:
            await engine.call(f"download {file_id}", lambda: _fetch(engine, file_id, part))
        except OSError as exc:
            part.unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC:
                problem = f"disk full while writing {part}"
            else:
                problem = f"cannot write {part}: {exc}"
            log.warning("download %s (try %d): %s", file_id, attempt, problem)
            continue
        problem = check_result_file(part, ids, rows)
        if not problem:
            os.replace(part, dest)
            return
        log.warning(
            "download %s (try %d) is corrupt: %s; fetching again", file_id, attempt, problem
        )
        part.unlink(missing_ok=True)
    raise RunError(f"could not download file {file_id} intact after {_TRIES} tries: {problem}")


async def _fetch(engine: Engine, file_id: str, part: Path) -> None:
    with part.open("wb") as f:
        async for chunk in engine.backend.stream_file(file_id):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def check_result_file(path: Path, ids: set[str], rows: int) -> str:
    """Return a description of what is wrong with a downloaded result file, or ""."""
    seen: set[str] = set()
    count = 0
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                return f"line {lineno} is not valid JSON"
            cid = obj.get("custom_id") if isinstance(obj, dict) else None
            if not isinstance(cid, str) or cid not in ids:
                return f"line {lineno} has a custom_id that is not in this shard"
            if cid in seen:
                return f"line {lineno} repeats custom_id {cid!r}"
            seen.add(cid)
            count += 1
    if count > rows:
        return f"{count} lines for a shard of {rows} rows"
    return ""
