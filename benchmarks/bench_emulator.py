"""Emulator benchmark: a 50,000-request chat batch through the official SDK.

The emulator runs as a separate process (``python -m batchport_emulator``,
instant profile) on a loopback port; this process plays the user with the
``openai`` SDK: upload (purpose=batch) -> batches.create -> poll retrieve until
terminal -> download the output file. Each phase is timed. ``--upload-mb N``
additionally measures the server's resident memory while it accepts an N MB
upload.

    .venv/bin/python benchmarks/bench_emulator.py [--rows 50000] [--upload-mb 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _common import TERMINAL, chat_line, emulator_process, machine
from openai import OpenAI


def write_input(path: Path, rows: int) -> None:
    with path.open("w") as fh:
        for i in range(rows):
            line = chat_line(f"req-{i}", f"Classify review number {i}.", max_tokens=50)
            fh.write(json.dumps(line) + "\n")


def run_batch(rows: int) -> dict[str, float]:
    phases: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, emulator_process() as (url, _proc):
        client = OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0)
        path = Path(tmp) / "input.jsonl"
        t0 = time.perf_counter()
        write_input(path, rows)
        phases["write input file"] = time.perf_counter() - t0

        start = time.perf_counter()
        with path.open("rb") as fh:
            uploaded = client.files.create(file=fh, purpose="batch")
        t1 = time.perf_counter()
        phases["upload"] = t1 - start
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        t2 = time.perf_counter()
        phases["create"] = t2 - t1
        polls = 0
        while batch.status not in TERMINAL:
            time.sleep(0.1)
            batch = client.batches.retrieve(batch.id)
            polls += 1
        t3 = time.perf_counter()
        phases["processing (poll until completed)"] = t3 - t2
        assert batch.status == "completed", batch
        assert batch.output_file_id is not None
        out = Path(tmp) / "output.jsonl"
        with client.files.with_streaming_response.content(batch.output_file_id) as resp:
            resp.stream_to_file(out)
        t4 = time.perf_counter()
        phases["download output"] = t4 - t3
        with out.open("rb") as fh:
            lines = sum(1 for _ in fh)
        assert lines == rows, (lines, rows)
        phases["total upload -> downloaded"] = t4 - start
        phases["polls"] = polls
        phases["output MB"] = out.stat().st_size / 1e6
    return phases


def measure_upload_rss(megabytes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, emulator_process() as (url, proc):
        path = Path(tmp) / "big.jsonl"
        line = (
            json.dumps(
                {
                    "custom_id": "x",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {"model": "m", "messages": [{"role": "user", "content": "y" * 900}]},
                }
            )
            + "\n"
        ).encode()
        with path.open("wb") as fh:
            size = 0
            while size < megabytes * 1_000_000 - len(line):
                fh.write(line)
                size += len(line)
        server = psutil.Process(proc.pid)
        client = OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=600)
        client.files.list()  # warm up the server's code paths first
        baseline = server.memory_info().rss
        peak = baseline
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, server.memory_info().rss)
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        start = time.perf_counter()
        with path.open("rb") as fh:
            uploaded = client.files.create(file=fh, purpose="batch")
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
        assert uploaded.bytes == path.stat().st_size
        return {
            "upload MB": path.stat().st_size / 1e6,
            "upload seconds": elapsed,
            "server RSS before (MB)": baseline / 1e6,
            "server RSS peak (MB)": peak / 1e6,
            "server RSS growth (MB)": (peak - baseline) / 1e6,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--upload-mb", type=int, default=0, help="also measure RSS for an upload")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for name, value in run_batch(args.rows).items():
        print(f"{name:40s} {value:10.3f}")
    if args.upload_mb:
        for name, value in measure_upload_rss(args.upload_mb).items():
            print(f"{name:40s} {value:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
