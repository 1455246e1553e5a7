"""Emulator benchmark: a 50,000-request chat batch through the official SDK.

The emulator runs as a separate process (``python -m batchport_emulator``,
instant profile) on a loopback port; this process plays the user with the
``openai`` SDK: upload (purpose=batch) -> batches.create -> poll retrieve until
terminal -> download the output file. Each phase is timed. ``--upload-mb N``
additionally measures the server's resident memory while it accepts an N MB
upload (streamed to disk, so it should grow by far less than the upload's size).

The baseline is the budget this emulator was built to: a 50,000-row batch from upload
to downloaded output in under 15 s on a 2-core machine, so every end-to-end test of a
realistic size stays fast; the report gives the total's ratio to it.

    .venv/bin/python benchmarks/bench_emulator.py [--rows 50000] [--upload-mb 200]
        [--repeats 3] [--update-results]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _common import TERMINAL, chat_line, emulator_process, machine, publish, section, spread
from openai import OpenAI

MARK = "bench_emulator"
BUDGET_S = 15.0  # upload -> completed -> output downloaded, 50,000 rows
PHASES = (
    ("upload", "upload (`files.create`, {input_mb:.1f} MB input)"),
    ("create", "`batches.create`"),
    (
        "processing (poll until completed)",
        "validate + run the rows + finalize (polled until `completed`)",
    ),
    ("download output", "download output (`files.content`, streamed to disk, {output_mb:.1f} MB)"),
)


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
        phases["input MB"] = path.stat().st_size / 1e6
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


def report(
    rows: int, runs: list[dict[str, float]], upload: dict[str, float] | None, command: str
) -> str:
    """The RESULTS.md section: each phase's median (min-max) over the runs, the total's
    ratio to the budget, and the server's memory while it accepted the upload."""

    def of(name: str) -> list[float]:
        return [r[name] for r in runs]

    sizes = {"input_mb": runs[0]["input MB"], "output_mb": runs[0]["output MB"]}
    total = statistics.median(of("total upload -> downloaded"))
    body = [
        "Emulator: `python -m batchport_emulator --port 0` (instant profile, fake responder) in "
        "its own process, a fresh one per run; the client is the `openai` SDK over loopback, "
        f"polling `batches.retrieve` every 0.1 s. {rows:,} chat rows. Seconds, median (min-max) "
        f"of {len(runs)} runs. Measured on a shared 2-core machine: the client and the emulator "
        "share the two cores.",
        "",
        "| phase | seconds |",
        "|---|---|",
        *(f"| {label.format(**sizes)} | {spread(of(name), '{:.3f}')} |" for name, label in PHASES),
        f"| **total, upload -> completed -> output downloaded** "
        f"| **{spread(of('total upload -> downloaded'))}** |",
        "",
        (
            f"Total against the budget of {BUDGET_S:.0f} s for 50,000 rows: "
            f"**{total / BUDGET_S:.2f}x** ({'within' if total <= BUDGET_S else 'over'} it). "
            if rows == 50_000
            else ""
        )
        + f"Status polls per run: {spread(of('polls'), '{:.0f}')}.",
    ]
    if upload is not None:
        growth = upload["server RSS growth (MB)"]
        body += [
            "",
            f"Memory while accepting an upload: a {upload['upload MB']:.0f} MB `purpose=batch` "
            f"upload took {upload['upload seconds']:.2f} s; the server's RSS went from "
            f"{upload['server RSS before (MB)']:.1f} MB to a peak of "
            f"{upload['server RSS peak (MB)']:.1f} MB (+{growth:.1f} MB, "
            f"{growth / upload['upload MB']:.3f}x the upload's size; sampled every 10 ms with "
            "psutil): the multipart body is streamed to disk in 256 KiB chunks. "
            "`tests/e2e/test_server_process.py` keeps a 64 MB version of this check in the "
            "suite (growth must stay under 32 MB).",
        ]
    return section(
        MARK,
        "Emulator: 50,000-request chat batch through the official SDK"
        if rows == 50_000
        else f"Emulator: {rows:,}-request chat batch through the official SDK",
        command,
        machine(ram=True),
        body,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--upload-mb", type=int, default=0, help="also measure RSS for an upload")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--update-results", action="store_true", help="write the section into RESULTS.md"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    runs = []
    for _ in range(args.repeats):
        runs.append(run_batch(args.rows))
        for name, value in runs[-1].items():
            print(f"{name:40s} {value:10.3f}")
    upload = None
    if args.upload_mb:
        upload = measure_upload_rss(args.upload_mb)
        for name, value in upload.items():
            print(f"{name:40s} {value:10.3f}")
    command = f".venv/bin/python benchmarks/bench_emulator.py --rows {args.rows}"
    if args.upload_mb:
        command += f" --upload-mb {args.upload_mb}"
    command += f" --repeats {args.repeats}"
    publish(MARK, report(args.rows, runs, upload, command), args.update_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
