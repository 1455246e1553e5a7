"""Emulator capacity: result rows generated per second, and status polls answered per
second while it is generating them.

The emulator runs in its own process (instant profile). Phase 1 submits one batch of
``--rows`` chat requests and polls lightly (every 50 ms) until it completes: rows per
second = rows / (completed_at - in_progress_at), from the batch's own timestamps
(whole seconds, so also the client-side wall time is given). Phase 2 submits the same
batch again and, while it processes, ``--pollers`` concurrent aiohttp clients call
``GET /v1/batches/{id}`` as fast as they can: polls answered per second, and the rows
per second the emulator still achieved under that load.

Each of ``--repeats`` runs starts its own emulator process; the median (min-max) is
reported. The load generator shares the machine's cores with the emulator, so on a small
machine both figures are the emulator's capacity while it competes with its clients.

    .venv/bin/python benchmarks/bench_emulator_capacity.py [--rows 50000] [--pollers 8] [--repeats 3] [--update-results]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import TERMINAL, chat_line, emulator_process, machine, publish, section, spread

MARK = "bench_emulator_capacity"
HEADERS = {"Authorization": "Bearer bench"}


def write_input(path: Path, rows: int) -> None:
    with path.open("w") as fh:
        for i in range(rows):
            fh.write(json.dumps(chat_line(f"r{i}", f"Summarize ticket {i}.", max_tokens=64)) + "\n")


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
    with tempfile.TemporaryDirectory() as tmp, emulator_process() as (url, _proc):
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


def capacity_section(runs: list[dict[str, float]]) -> str:
    def col(key: str) -> list[float]:
        return [r[key] for r in runs]

    first = runs[0]
    polls = int(statistics.median(col("polls")))
    repeats = len(runs)
    return section(
        MARK,
        "Emulator capacity: rows generated and status polls answered per second",
        ".venv/bin/python benchmarks/bench_emulator_capacity.py"
        + (f" --repeats {repeats}" if repeats != 3 else "")
        + " --update-results",
        machine(),
        [
            "Emulator: `python -m batchport_emulator --port 0` (instant profile, fake responder) in its "
            f"own process, a fresh one per run; the load comes from this process over loopback (aiohttp). Batch of {int(first['rows']):,} "
            "chat rows (upload excluded; wall time from `batches.create` answered to `completed` seen). "
            f"Median (min-max) of {repeats} runs. Measured on a shared 2-core machine with other work running; "
            "the load generator competes with the emulator for the two cores.",
            "",
            "| figure | value |",
            "|---|---:|",
            f"| result rows generated per second (polled every 50 ms) | {spread(col('rows_per_s_light'), '{:,.0f}')} rows/s ({spread(col('light_wall_s'))} s) |",
            f"| status polls answered per second while processing ({int(first['pollers'])} concurrent pollers) | {spread(col('polls_per_s'), '{:,.0f}')} polls/s (median {polls:,} polls) |",
            f"| result rows per second under that poll load | {spread(col('rows_per_s_loaded'), '{:,.0f}')} rows/s ({spread(col('loaded_wall_s'))} s) |",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--pollers", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--update-results", action="store_true")
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeats):
        runs.append(asyncio.run(measure(args.rows, args.pollers)))
        r = runs[-1]
        print(
            f"{r['rows_per_s_light']:,.0f} rows/s, {r['polls_per_s']:,.0f} polls/s, "
            f"{r['rows_per_s_loaded']:,.0f} rows/s under load"
        )
    publish(MARK, capacity_section(runs), args.update_results)


if __name__ == "__main__":
    main()
