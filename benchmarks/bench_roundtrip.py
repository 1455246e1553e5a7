"""50,000-request round trip through the emulator: batchport's runner vs the bare SDK.

Both sides start from the same 50,000 chat requests in memory and end with every
result in hand, against a fresh emulator process each (instant profile) over loopback:

- ``sdk``: the minimal script users write with the official ``openai`` SDK: write the
  JSONL file, ``files.create(purpose="batch")``, ``batches.create``, poll
  ``batches.retrieve`` until terminal, download the output and error files, and read
  each result line into a dict by ``custom_id``.
- ``batchport``: ``batchport.run(requests, backend=EmulatorBackend(url=...))``, which
  also validates, records a SQLite ledger and reconciles one outcome per row.

Both poll every 0.1 s. Runs alternate sides; the median of ``--repeats`` is reported.
Target: batchport within 1.15x of the SDK script.

    .venv/bin/python benchmarks/bench_roundtrip.py [--rows 50000] [--repeats 3] [--update-results]
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

from _common import TERMINAL, chat_line, emulator_process, machine, publish, section
from openai import OpenAI

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.runner.policy import PollPolicy

MARK = "bench_roundtrip"
POLL_S = 0.1
TARGET = 1.15


def bodies(rows: int) -> list[dict[str, Any]]:
    return [
        chat_line(f"req-{i}", f"Classify review number {i}.", max_tokens=64) for i in range(rows)
    ]


def sdk_round_trip(url: str, lines: list[dict[str, Any]], tmp: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    client = OpenAI(base_url=url + "/v1", api_key="bench")
    path = tmp / "input.jsonl"
    with path.open("w") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")
    with path.open("rb") as fh:
        uploaded = client.files.create(file=fh, purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    while batch.status not in TERMINAL:
        time.sleep(POLL_S)
        batch = client.batches.retrieve(batch.id)
    results: dict[str, Any] = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        out = tmp / f"{file_id}.jsonl"
        with client.files.with_streaming_response.content(file_id) as resp:
            resp.stream_to_file(out)
        with out.open("rb") as fh:
            for raw in fh:
                row = json.loads(raw)
                results[row["custom_id"]] = row
    client.close()
    return time.perf_counter() - t0, len(results)


def batchport_round_trip(url: str, lines: list[dict[str, Any]], tmp: Path) -> tuple[float, int]:
    reqs = [bp.Request.from_dict(line) for line in lines]

    async def go() -> int:
        backend = EmulatorBackend(url=url)
        try:
            run = await bp.run(
                reqs,
                backend=backend,
                home=tmp / "home",
                progress=False,
                poll=PollPolicy(interval=POLL_S, max_interval=POLL_S),
            )
            settled = sum(run.outcomes.values())
            run.store.close()
            return settled
        finally:
            await backend.aclose()

    t0 = time.perf_counter()
    n = asyncio.run(go())
    return time.perf_counter() - t0, n


def measure(rows: int, repeats: int) -> dict[str, list[float]]:
    lines = bodies(rows)
    times: dict[str, list[float]] = {"sdk": [], "batchport": []}
    for i in range(repeats):
        order = ("sdk", "batchport") if i % 2 == 0 else ("batchport", "sdk")
        for side in order:
            with emulator_process() as (url, _proc), tempfile.TemporaryDirectory() as tmp:
                fn = sdk_round_trip if side == "sdk" else batchport_round_trip
                seconds, n = fn(url, lines, Path(tmp))
                assert n == rows, (side, n)
                times[side].append(seconds)
                print(f"{side}: {seconds:.2f} s ({n:,} rows)")
    return times


def roundtrip_section(rows: int, times: dict[str, list[float]]) -> str:
    sdk, ours = statistics.median(times["sdk"]), statistics.median(times["batchport"])
    ratio = ours / sdk
    fmt = ", ".join
    return section(
        MARK,
        f"Round trip: {rows:,} requests, batchport's runner vs the bare SDK",
        ".venv/bin/python benchmarks/bench_roundtrip.py --update-results",
        machine(),
        [
            "A fresh `python -m batchport_emulator --port 0` (instant profile) per run; both sides "
            f"poll every {POLL_S} s and end with every result read. Median of {len(times['sdk'])} "
            "alternating runs.",
            "",
            "| side | median s | runs s |",
            "|---|---:|---|",
            f"| SDK script (write, upload, create, poll, download + parse) | {sdk:.2f} | {fmt(f'{t:.2f}' for t in times['sdk'])} |",
            f"| `batchport.run` (also validates, ledger, reconciles) | {ours:.2f} | {fmt(f'{t:.2f}' for t in times['batchport'])} |",
            "",
            f"- batchport / SDK: {ratio:.2f}x, target {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'}",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--update-results", action="store_true")
    args = parser.parse_args()
    times = measure(args.rows, args.repeats)
    text = roundtrip_section(args.rows, times)
    publish(MARK, text, args.update_results)


if __name__ == "__main__":
    main()
