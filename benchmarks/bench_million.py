"""1,000,000 requests through batchport's runner against the emulator (20 shards).

The emulator runs in its own process (instant profile), so this process is the client
alone: ``batchport.run`` plans, writes 20 shard files, uploads, creates, polls,
downloads and reconciles into its SQLite ledger. Measured: wall time, client CPU time
(user + system of this process), client peak RSS (``ru_maxrss``, plus a 50 ms psutil
sampler for the timeline of where it peaked), and the bytes this process wrote to disk
(``/proc/self/io`` ``write_bytes``: shard files, result blobs, spools and the SQLite
store together), and of those the bytes written to the store's files: the blobs by their
sizes, the SQLite database and WAL as the rest. Targets: peak RSS at most 150 MB, client
CPU at most 25 s and at most 500 MB written to the store for a million rows.

The baseline, in the same run: what a careful user runs instead, the ``orjson`` SDK
script of ``bench_roundtrip.py`` over the same number of requests, in files of at most
50,000 (OpenAI's most per batch file), one after another, each a fresh process against
one emulator, its request dicts built inside its timing as this run's requests are.
Its client CPU, summed, is what batchport's client CPU is divided by.

``--trace`` adds tracemalloc snapshots at each phase and prints the top allocation
sites, to find what holds memory.

    .venv/bin/python benchmarks/bench_million.py [--rows 1000000] [--trace] [--update-results]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import orjson
import psutil
from _common import emulator_process, machine, section, update_results

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.runner.policy import PollPolicy

MARK = "bench_million"
HERE = Path(__file__).parent
#: the most requests OpenAI takes in one batch file: the SDK script's files hold this many
SDK_FILE_ROWS = 50_000
TARGET_MB = 150
TARGET_CPU_S = 25.0
TARGET_STORE_MB = 500


def written_bytes() -> int:
    """Bytes this process has caused to be written to storage (Linux), else 0."""
    try:
        return int(psutil.Process().io_counters().write_bytes)
    except (AttributeError, psutil.Error):
        return 0


def blob_bytes(home: str) -> dict[str, int]:
    """Bytes of the store's blobs under ``home/runs``, by kind (shard inputs, result
    blobs). Each blob is written once, whole, and never rewritten, so its size is what
    was written for it."""
    sizes = {"shards": 0, "results": 0}
    for path in Path(home, "runs").rglob("*.jsonl"):
        kind = path.parent.name
        sizes[kind] = sizes.get(kind, 0) + path.stat().st_size
    return sizes


def input_bytes(home: str) -> int:
    """The size of the caller's input file when the run was handed one (``--via writer``)."""
    given = Path(home, "requests.jsonl")
    return given.stat().st_size if given.exists() else 0


def store_figures(home: str, written: int, outside: int) -> dict[str, float]:
    """What was written to the store's files, in MB: blobs measured by their sizes, the
    SQLite database and its WAL as the rest of the process's ``write_bytes`` once the
    blobs and ``outside`` (bytes the process wrote elsewhere, the caller's input file)
    are taken out; plus the database and WAL file sizes at the end."""
    blobs = blob_bytes(home)
    sqlite_written = written - outside - sum(blobs.values())
    db = Path(home, "batchport.sqlite3")
    wal = Path(home, "batchport.sqlite3-wal")
    return {
        "store_written_mb": (sum(blobs.values()) + sqlite_written) / 1e6,
        "store_shards_mb": blobs["shards"] / 1e6,
        "store_results_mb": blobs["results"] / 1e6,
        "store_sqlite_written_mb": sqlite_written / 1e6,
        "sqlite_db_mb": db.stat().st_size / 1e6 if db.exists() else 0.0,
        "sqlite_wal_mb": wal.stat().st_size / 1e6 if wal.exists() else 0.0,
    }


def requests(n: int) -> Iterator[bp.Request]:
    for i in range(n):
        yield bp.Request.build(
            f"req-{i}",
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"Classify review number {i}."}],
                "max_tokens": 64,
            },
        )


def reference_cpu(rows: int) -> float:
    """Client CPU of a bare loop over the same requests: ``orjson.dumps`` of each line
    and ``orjson.loads`` of it back (10,000 distinct lines, repeated; least of three). Machines differ
    by up to 2x from one session to the next; the run's CPU divided by this reference
    can be compared across machines, where the seconds alone cannot."""
    lines = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"Classify review number {i}."}],
                "max_tokens": 64,
            },
        }
        for i in range(10_000)
    ]
    dumps, loads = orjson.dumps, orjson.loads
    spent = []
    for _ in range(3):  # the least of three: the machine's speed, not a busy moment's
        c0 = time.process_time()
        for _ in range(rows // len(lines)):
            for line in lines:
                loads(dumps(line))
        spent.append(time.process_time() - c0)
    return min(spent)


def sdk_baseline(rows: int) -> dict[str, float]:
    """Client CPU and wall time of the ``orjson`` SDK script (``bench_roundtrip.py``'s)
    for ``rows`` requests, in files of at most :data:`SDK_FILE_ROWS` run one after
    another, each by a fresh process against one emulator process, summed."""
    cpu = wall = 0.0
    files = 0
    with emulator_process() as (url, _proc):
        for start in range(0, rows, SDK_FILE_ROWS):
            n = min(SDK_FILE_ROWS, rows - start)
            script = str(HERE / "bench_roundtrip.py")
            args = ["--child", "sdk-orjson", url, str(n), "--time-building"]
            out = subprocess.run(
                [sys.executable, script, *args], capture_output=True, text=True, check=True
            ).stdout
            r = json.loads(out)
            assert r["rows"] == n, r
            cpu, wall, files = cpu + r["cpu_seconds"], wall + r["seconds"], files + 1
    return {"sdk_cpu_s": cpu, "sdk_wall_s": wall, "sdk_files": files}


class RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process()
        self.peak = 0
        self.peak_at = 0.0
        self.t0 = time.perf_counter()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            rss = self.proc.memory_info().rss
            if rss > self.peak:
                self.peak, self.peak_at = rss, time.perf_counter() - self.t0


def top_allocations(label: str, limit: int = 8) -> None:
    snap = tracemalloc.take_snapshot()
    cur, peak = tracemalloc.get_traced_memory()
    print(f"-- tracemalloc {label}: current {cur / 1e6:.1f} MB, peak {peak / 1e6:.1f} MB")
    for stat in snap.statistics("lineno")[:limit]:
        print(f"   {stat.size / 1e6:8.1f} MB  {stat.count:>9,}  {stat.traceback[0]}")


def written_file(rows: int, folder: str) -> bp.BatchWriter:
    """The requests built with :class:`batchport.BatchWriter` (streamed to a file)."""
    with bp.BatchWriter(f"{folder}/requests.jsonl") as reqs:
        for i in range(rows):
            reqs.chat.completions.create(
                custom_id=f"req-{i}",
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"Classify review number {i}."}],
                max_tokens=64,
            )
    return reqs


async def main_async(rows: int, trace: bool, via: str) -> dict[str, object]:
    with emulator_process() as (url, _proc), tempfile.TemporaryDirectory() as home:
        backend = EmulatorBackend(url=url, timeout=600)
        sampler = RssSampler()
        sampler.start()
        t0, c0, w0 = time.perf_counter(), time.process_time(), written_bytes()
        source: bp.BatchWriter | Iterator[bp.Request] = (
            written_file(rows, home) if via == "writer" else requests(rows)
        )
        run = await bp.run(
            source,
            backend=backend,
            home=home,
            progress=False,
            poll=PollPolicy(interval=0.5, max_interval=2.0),
            max_rows_per_shard=rows // 20,
            max_concurrent_shards=4,
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        written = written_bytes() - w0
        store = store_figures(home, written, input_bytes(home))
        if trace:
            top_allocations("after run")
        outcomes = run.outcomes
        shards = len(run.store.shards(run.id))
        sampler.stop.set()
        sampler.join()
        await backend.aclose()
    reference = reference_cpu(rows)  # after the run: its memory peak is the run's own
    return {
        "rows": rows,
        "via": via,
        "shards": shards,
        "outcomes": outcomes,
        "wall_s": wall,
        "cpu_s": cpu,
        "reference_cpu_s": reference,
        "written_mb": written / 1e6,
        **store,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sampled_peak_mb": sampler.peak / 2**20,
        "sampled_peak_at_s": sampler.peak_at,
    }


def million_section(r: dict[str, object]) -> str:
    peak = float(r["peak_rss_mb"])  # type: ignore[arg-type]
    cpu = float(r["cpu_s"])  # type: ignore[arg-type]
    ref = float(r["reference_cpu_s"])  # type: ignore[arg-type]
    sdk = float(r["sdk_cpu_s"])  # type: ignore[arg-type]
    files = int(r["sdk_files"])  # type: ignore[call-overload]
    writer = r["via"] == "writer"
    return section(
        MARK + ("_writer" if writer else ""),
        f"Runner at scale: {int(r['rows']):,} requests, {r['shards']} shards, against the emulator"  # type: ignore[call-overload]
        + (", built with BatchWriter" if writer else ""),
        ".venv/bin/python benchmarks/bench_million.py"
        + (" --via writer" if writer else "")
        + " --update-results",
        machine(ram=True),
        [
            "Emulator: `python -m batchport_emulator --port 0` (instant profile) in its own process; "
            "the client (this process) runs `batchport.run` with the emulator backend, polling every 0.5-2 s, "
            f"4 shards in flight; requests handed over as {'a file built with `BatchWriter` (build included)' if r['via'] == 'writer' else 'a generator'}.",
            "",
            "| figure | value |",
            "|---|---:|",
            f"| wall time | {float(r['wall_s']):.1f} s |",  # type: ignore[arg-type]
            f"| client CPU time (user + system) | {cpu:.1f} s (target {TARGET_CPU_S:.0f}) |",
            f"| reference: bare `orjson` dumps + loads of {int(r['rows']):,} such lines, same process, least of 3 | {ref:.2f} s |",  # type: ignore[call-overload]
            f"| client CPU / reference | {cpu / ref:.1f}x |",
            f"| baseline: the `orjson` SDK script for the same {int(r['rows']):,} requests, "  # type: ignore[call-overload]
            f"{files} file{'s' if files != 1 else ''} of at most {SDK_FILE_ROWS:,}, "
            "client CPU summed "
            f"| {sdk:.1f} s |",
            f"| client CPU / the SDK script's | {cpu / sdk:.2f}x |",
            f"| client peak RSS (ru_maxrss) | {peak:.0f} MB (target {TARGET_MB}) |",
            f"| bytes written by the client (shards, result blobs, store) | {float(r['written_mb']):,.0f} MB |",  # type: ignore[arg-type]
            f"| bytes written to the store's files (SQLite db + WAL + blobs) | {float(r['store_written_mb']):,.0f} MB (target {TARGET_STORE_MB}) |",  # type: ignore[arg-type]
            f"| of which shard blobs / result blobs / SQLite db + WAL | {float(r['store_shards_mb']):,.0f} / {float(r['store_results_mb']):,.0f} / {float(r['store_sqlite_written_mb']):,.0f} MB |",  # type: ignore[arg-type]
            f"| outcomes | {r['outcomes']} |",
            "",
            f"- peak RSS at most {TARGET_MB} MB: {'met' if peak <= TARGET_MB else 'NOT met'}",
            f"- client CPU at most {TARGET_CPU_S:.0f} s: {'met' if cpu <= TARGET_CPU_S else 'NOT met'}",
            f"- at most {TARGET_STORE_MB} MB written to the store's files: "
            f"{'met' if float(r['store_written_mb']) <= TARGET_STORE_MB else 'NOT met'}",  # type: ignore[arg-type]
            "- bytes written to the store: blobs by their sizes (each is written once, whole); "
            "the SQLite database and WAL as the rest of the client's `/proc/self/io` "
            "`write_bytes` (the client writes nothing else but the caller's input file, "
            "taken out)",
            f"- the CPU target of {TARGET_CPU_S:.0f} s is {TARGET_CPU_S / sdk:.2f}x the SDK "
            "script's own client CPU in this run",
            "- the SDK script (`bench_roundtrip.py --child sdk-orjson URL ROWS "
            "--time-building`) builds its request dicts, writes its JSONL file with `orjson`, "
            "uploads it, creates the batch, polls every 0.1 s, downloads the output file and "
            "parses each line into a dict by `custom_id`; its files run one after another, "
            "each a fresh process, against one emulator process started after this run",
            "- the reference loop is timed after the run in the same process: the CPU target "
            "is in seconds, and this machine's speed has differed by up to 2x from one "
            "session to the next, so compare the ratio across dates, not the seconds",
            "- shard and result blobs are zstd-compressed (result lines one by one, with a "
            "dictionary per blob); the emulator's requests and answers repeat more than real "
            "prompts and model outputs, so real blobs shrink less than these",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trace", action="store_true", help="tracemalloc top allocation sites")
    parser.add_argument(
        "--via",
        choices=("generator", "writer"),
        default="generator",
        help="hand bp.run a generator, or build with BatchWriter first (build time counted)",
    )
    parser.add_argument("--update-results", action="store_true")
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start(1)
    r = asyncio.run(main_async(args.rows, args.trace, args.via))
    r.update(sdk_baseline(args.rows))  # after the run, in processes of its own
    for k, v in r.items():
        print(f"{k}: {v}")
    if args.update_results:
        mark = MARK + ("_writer" if args.via == "writer" else "")
        update_results(mark, million_section(r))


if __name__ == "__main__":
    main()
