"""Emulator capacity: result rows generated per second, and status polls answered per
second while it is generating them.

The emulator runs in its own process (instant profile). Phase 1 submits one batch of
``--rows`` chat requests and polls lightly (every 50 ms) until it completes: rows per
second = rows / (completed_at - in_progress_at), from the batch's own timestamps
(whole seconds, so also the client-side wall time is given). Phase 2 submits the same
batch again and, while it processes, ``--pollers`` concurrent aiohttp clients call
``GET /v1/batches/{id}`` as fast as they can: polls answered per second, and the rows
per second the emulator still achieved under that load.

    .venv/bin/python benchmarks/bench_emulator_capacity.py [--rows 50000] [--pollers 8] [--update-results]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

RESULTS = Path(__file__).with_name("RESULTS.md")
MARK = "bench_emulator_capacity"
TERMINAL = {"completed", "failed", "expired", "cancelled"}
HEADERS = {"Authorization": "Bearer bench"}


@contextmanager
def emulator_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchport_emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip().rsplit(" ", 1)[-1]
    finally:
        proc.terminate()
        proc.wait(10)


def write_input(path: Path, rows: int) -> None:
    with path.open("w") as fh:
        for i in range(rows):
            body = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"Summarize ticket {i}."}],
                "max_tokens": 64,
            }
            fh.write(
                json.dumps(
                    {
                        "custom_id": f"r{i}",
                        "method": "POST",
                        "url": "/v1/chat/completions",
                        "body": body,
                    }
                )
                + "\n"
            )


async def submit(session: aiohttp.ClientSession, url: str, data: bytes) -> str:
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("file", data, filename="input.jsonl", content_type="application/jsonl")
    async with session.post(f"{url}/v1/files", data=form, headers=HEADERS) as r:
        file_id = (await r.json())["id"]
    payload = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    async with session.post(f"{url}/v1/batches", json=payload, headers=HEADERS) as r:
        return str((await r.json())["id"])


async def status(session: aiohttp.ClientSession, url: str, batch_id: str) -> dict[str, Any]:
    async with session.get(f"{url}/v1/batches/{batch_id}", headers=HEADERS) as r:
        data: dict[str, Any] = await r.json()
        return data


async def wait_done(
    session: aiohttp.ClientSession, url: str, batch_id: str
) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    while True:
        data = await status(session, url, batch_id)
        if data["status"] in TERMINAL:
            return data, time.perf_counter() - t0
        await asyncio.sleep(0.05)


async def hammer(
    session: aiohttp.ClientSession, url: str, batch_id: str, stop: asyncio.Event
) -> int:
    n = 0
    while not stop.is_set():
        data = await status(session, url, batch_id)
        n += 1
        if data["status"] in TERMINAL:
            stop.set()
    return n


async def measure(rows: int, pollers: int) -> dict[str, float]:
    out: dict[str, float] = {"rows": rows, "pollers": pollers}
    with tempfile.TemporaryDirectory() as tmp, emulator_process() as url:
        path = Path(tmp) / "input.jsonl"
        write_input(path, rows)
        raw = path.read_bytes()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pollers + 4)) as s:
            batch_id = await submit(s, url, raw)
            data, wall = await wait_done(s, url, batch_id)
            assert data["status"] == "completed", data
            span = max(1, data["completed_at"] - data["in_progress_at"])
            out["rows_per_s_light"] = rows / wall
            out["light_wall_s"] = wall
            out["light_span_s"] = span
            batch_id = await submit(s, url, raw)
            stop = asyncio.Event()
            t0 = time.perf_counter()
            counts = await asyncio.gather(*(hammer(s, url, batch_id, stop) for _ in range(pollers)))
            loaded = time.perf_counter() - t0
            out["polls"] = sum(counts)
            out["polls_per_s"] = sum(counts) / loaded
            out["loaded_wall_s"] = loaded
            out["rows_per_s_loaded"] = rows / loaded
    return out


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def section(r: dict[str, float]) -> str:
    return "\n".join(
        [
            f"<!-- {MARK}:start -->",
            "## Emulator capacity: rows generated and status polls answered per second",
            "",
            "Command: `.venv/bin/python benchmarks/bench_emulator_capacity.py --update-results`",
            f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}.",
            "Emulator: `python -m batchport_emulator --port 0` (instant profile, fake responder) in its "
            f"own process; the load comes from this process over loopback (aiohttp). Batch of {int(r['rows']):,} "
            "chat rows (upload excluded; wall time from `batches.create` answered to `completed` seen).",
            "",
            "| figure | value |",
            "|---|---:|",
            f"| result rows generated per second (polled every 50 ms) | {r['rows_per_s_light']:,.0f} rows/s ({r['light_wall_s']:.2f} s) |",
            f"| status polls answered per second while processing ({int(r['pollers'])} concurrent pollers) | {r['polls_per_s']:,.0f} polls/s ({int(r['polls']):,} polls) |",
            f"| result rows per second under that poll load | {r['rows_per_s_loaded']:,.0f} rows/s ({r['loaded_wall_s']:.2f} s) |",
            f"<!-- {MARK}:end -->",
        ]
    )


def update_results(text_section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    start, end = f"<!-- {MARK}:start -->", f"<!-- {MARK}:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + text_section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + text_section + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--pollers", type=int, default=8)
    parser.add_argument("--update-results", action="store_true")
    args = parser.parse_args()
    r = asyncio.run(measure(args.rows, args.pollers))
    text = section(r)
    print(text)
    if args.update_results:
        update_results(text)


if __name__ == "__main__":
    main()
