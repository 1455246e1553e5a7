"""50,000-request round trip through the emulator: batchport's runner vs the bare SDK.

All sides start from the same 50,000 chat requests in memory (plain dicts) and end with
every result in hand, against a fresh emulator process each (instant profile) over
loopback:

- ``sdk-json``: the minimal script users write with the official ``openai`` SDK: write
  the JSONL file with stdlib ``json``, ``files.create(purpose="batch")``,
  ``batches.create``, poll ``batches.retrieve`` until terminal, download the output and
  error files, and parse each result line into a dict by ``custom_id``.
- ``sdk-orjson``: the same script as a careful user writes it, with ``orjson`` to write
  the input and to parse the results.
- ``batchport``: ``batchport.run(lines, backend=EmulatorBackend(url=...))`` on the same
  dicts (it reads each as a ``Request`` while it prepares the run), which also validates,
  records a SQLite ledger and reconciles one outcome per row. Its results end parsed in
  the ledger behind ``run.results()``; they are not iterated.

Each run is a fresh client interpreter (no side inherits another's heap, caches or event
loop) against a fresh emulator process. The client builds the request dicts, then times
the round trip only (imports and building excluded): wall time with ``perf_counter`` and
client CPU time with ``process_time`` (user + system of every thread of the client; the
emulator's CPU is spent in its own process and not counted). Every side polls every
0.1 s, so all wait alike for the emulator: wall time is mostly that wait, CPU time is what
each client itself costs. The order of the sides rotates from run to run; the median
(min-max) of ``--repeats`` runs per side is reported.

Targets: batchport's wall time within 1.15x of the stdlib-json SDK script's, and its
client CPU time within 1.5x of the orjson SDK script's.

    .venv/bin/python benchmarks/bench_roundtrip.py [--rows 50000] [--repeats 3] [--update-results]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from _common import TERMINAL, chat_line, emulator_process, machine, publish, section, spread
from openai import OpenAI

import batchport as bp
from batchport.backends.emulator import EmulatorBackend
from batchport.runner.policy import PollPolicy

MARK = "bench_roundtrip"
POLL_S = 0.1
TARGET = 1.15  # batchport wall / sdk-json wall
CPU_TARGET = 1.5  # batchport client CPU / sdk-orjson client CPU
SIDES = ("sdk-json", "sdk-orjson", "batchport")
PHASE_NAMES = ("prepare", "submit", "wait", "collect")
PHASE_LABELS = {
    "prepare": "input file: SDK writes JSONL; batchport reads the dicts as requests, "
    "validates, estimates tokens, writes compressed shard files and ledger rows",
    "submit": "make the SDK client, upload the file, create the batch",
    "wait": "polls until the batch ends",
    "collect": "download and parse the results; batchport also writes result records "
    "and settles every row in its ledger",
}
LABELS = {
    "sdk-json": "SDK script, stdlib `json` (write, upload, create, poll, download + parse)",
    "sdk-orjson": "SDK script, `orjson` to write and to parse",
    "batchport": "`batchport.run` (also validates, ledger, reconciles)",
}

Lines = list[dict[str, Any]]


def bodies(rows: int) -> Lines:
    return [
        chat_line(f"req-{i}", f"Classify review number {i}.", max_tokens=64) for i in range(rows)
    ]


def write_json(path: Path, lines: Lines) -> None:
    with path.open("w") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")


def write_orjson(path: Path, lines: Lines) -> None:
    with path.open("wb") as fh:
        for line in lines:
            fh.write(orjson.dumps(line) + b"\n")


def sdk_round_trip(
    url: str,
    lines: Lines,
    tmp: Path,
    write: Callable[[Path, Lines], None],
    loads: Callable[[bytes], Any],
) -> int:
    lap = Laps()
    path = tmp / "input.jsonl"
    write(path, lines)
    lap("prepare")
    client = OpenAI(base_url=url + "/v1", api_key="bench")  # batchport's is made at submit
    with path.open("rb") as fh:
        uploaded = client.files.create(file=fh, purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    lap("submit")
    while batch.status not in TERMINAL:
        time.sleep(POLL_S)
        batch = client.batches.retrieve(batch.id)
    lap("wait")
    results: dict[str, Any] = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        out = tmp / f"{file_id}.jsonl"
        with client.files.with_streaming_response.content(file_id) as resp:
            resp.stream_to_file(out)
        with out.open("rb") as fh:
            for raw in fh:
                row = loads(raw)
                results[row["custom_id"]] = row
    client.close()
    lap("collect")
    PHASES.update(lap.spent)
    return len(results)


def batchport_round_trip(url: str, lines: Lines, tmp: Path) -> int:
    async def go() -> int:
        backend = EmulatorBackend(url=url)
        try:
            run = await bp.run(
                lines,
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

    return asyncio.run(go())


class Laps:
    """Client CPU (``process_time``) between one call and the next, by phase name."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._at = time.process_time()

    def __call__(self, phase: str) -> None:
        now = time.process_time()
        self.spent[phase] = self.spent.get(phase, 0.0) + now - self._at
        self._at = now


#: client CPU by phase of the run being timed (see Laps and time_phases)
PHASES: dict[str, float] = {}


@contextmanager
def counted(phase: str) -> Iterator[None]:
    """Add the client CPU spent inside the block to ``PHASES[phase]``."""
    c0 = time.process_time()
    try:
        yield
    finally:
        PHASES[phase] = PHASES.get(phase, 0.0) + time.process_time() - c0


def time_phases() -> None:
    """Count the client CPU spent inside batchport's preparation and each engine step
    (upload and create, poll, collect). The run has one shard, so one step runs at a
    time; other tasks running while a step awaits are counted with it."""
    from batchport.runner import api
    from batchport.runner.engine import Engine

    def timed(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def sync(*args: Any, **kwargs: Any) -> Any:
            with counted(phase):
                return fn(*args, **kwargs)

        async def step(*args: Any, **kwargs: Any) -> Any:
            with counted(phase):
                return await fn(*args, **kwargs)

        return step if asyncio.iscoroutinefunction(fn) else sync

    api.prepare_run = timed("prepare", api.prepare_run)  # type: ignore[assignment]
    for phase, name in (("submit", "_submit"), ("wait", "_poll"), ("collect", "_collect")):
        setattr(Engine, name, timed(phase, getattr(Engine, name)))


def child(side: str, url: str, rows: int, *, time_building: bool = False) -> None:
    """One client run: build the request dicts, time the round trip, print JSON.
    ``time_building``: start the timing before the dicts are built (for a comparison
    with a run whose requests are built as it reads them)."""
    if side == "batchport":
        time_phases()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    lines = bodies(rows)
    with tempfile.TemporaryDirectory() as tmp:
        if not time_building:
            wall0, cpu0 = time.perf_counter(), time.process_time()
        if side == "batchport":
            n = batchport_round_trip(url, lines, Path(tmp))
        elif side == "sdk-orjson":
            n = sdk_round_trip(url, lines, Path(tmp), write_orjson, orjson.loads)
        else:
            n = sdk_round_trip(url, lines, Path(tmp), write_json, json.loads)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(json.dumps({"seconds": wall, "cpu_seconds": cpu, "rows": n, "phases": PHASES}))


def measure(rows: int, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Run every side ``repeats`` times, each against its own emulator process."""
    runs: dict[str, dict[str, list[float]]] = {
        s: {"wall": [], "cpu": [], **{p: [] for p in PHASE_NAMES}} for s in SIDES
    }
    for i in range(repeats):
        order = SIDES[i % len(SIDES) :] + SIDES[: i % len(SIDES)]
        for side in order:
            with emulator_process() as (url, _proc):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", side, url, str(rows)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            r = json.loads(out)
            assert r["rows"] == rows, (side, r)
            runs[side]["wall"].append(r["seconds"])
            runs[side]["cpu"].append(r["cpu_seconds"])
            for phase in PHASE_NAMES:
                runs[side][phase].append(r["phases"].get(phase, 0.0))
            print(f"{side}: {r['seconds']:.2f} s wall, {r['cpu_seconds']:.2f} s client CPU")
    return runs


def roundtrip_section(rows: int, runs: dict[str, dict[str, list[float]]]) -> str:
    med = {s: {k: statistics.median(v) for k, v in runs[s].items()} for s in SIDES}
    ours = med["batchport"]
    repeats = len(runs["batchport"]["wall"])
    table = [
        f"| {LABELS[s]} | {spread(runs[s]['wall'])} | {spread(runs[s]['cpu'])} "
        f"| {ours['wall'] / med[s]['wall']:.2f}x | {ours['cpu'] / med[s]['cpu']:.2f}x |"
        for s in SIDES
    ]
    wall_json = ours["wall"] / med["sdk-json"]["wall"]
    wall_orjson = ours["wall"] / med["sdk-orjson"]["wall"]
    cpu_json = ours["cpu"] / med["sdk-json"]["cpu"]
    cpu_orjson = ours["cpu"] / med["sdk-orjson"]["cpu"]
    return section(
        MARK,
        f"Round trip: {rows:,} requests, batchport's runner vs the bare SDK (json and orjson)",
        ".venv/bin/python benchmarks/bench_roundtrip.py"
        + (f" --rows {rows}" if rows != 50_000 else "")
        + (f" --repeats {repeats}" if repeats != 3 else "")
        + " --update-results",
        machine(),
        [
            "A fresh `python -m batchport_emulator --port 0` (instant profile) and a fresh "
            f"client interpreter per run; every side polls every {POLL_S} s and ends with every "
            "result parsed (batchport's in its SQLite ledger, not iterated). Timed: the round "
            f"trip only, after imports and after the {rows:,} request dicts are built. Wall: "
            "`perf_counter`. Client CPU: `process_time` of the client (all its threads; the "
            "emulator runs in its own process and is not counted). Median (min-max) of "
            f"{repeats} runs per side, the order of the sides rotating. Measured on a shared "
            "2-core machine with other work running; the client and the emulator share the "
            "two cores, so wall times vary more than CPU times.",
            "",
            "| side | wall s | client CPU s | batchport / side, wall | batchport / side, CPU |",
            "|---|---:|---:|---:|---:|",
            *table,
            "",
            f"- wall: batchport / SDK-json {wall_json:.2f}x, batchport / SDK-orjson "
            f"{wall_orjson:.2f}x",
            f"- client CPU: batchport / SDK-json {cpu_json:.2f}x, batchport / SDK-orjson "
            f"{cpu_orjson:.2f}x",
            f"- wall target, batchport within {TARGET}x of the SDK-json script: "
            f"{'met' if wall_json <= TARGET else 'NOT met'} ({wall_json:.2f}x)",
            f"- client CPU target, batchport within {CPU_TARGET}x of the SDK-orjson script: "
            f"{'met' if cpu_orjson <= CPU_TARGET else 'NOT met'} ({cpu_orjson:.2f}x)",
            "",
            "Where the client CPU goes (medians, seconds; batchport's phases are the CPU "
            "spent while its preparation and each engine step ran, the rest is set-up and "
            "bookkeeping between them):",
            "",
            "| phase | SDK `orjson` | batchport | batchport - SDK |",
            "|---|---:|---:|---:|",
            *phase_rows(med),
        ],
    )


def phase_rows(med: dict[str, dict[str, float]]) -> list[str]:
    sdk, ours = med["sdk-orjson"], med["batchport"]
    rows = [
        f"| {PHASE_LABELS[p]} | {sdk[p]:.2f} | {ours[p]:.2f} | {ours[p] - sdk[p]:+.2f} |"
        for p in PHASE_NAMES
    ]
    rest_sdk = sdk["cpu"] - sum(sdk[p] for p in PHASE_NAMES)
    rest = ours["cpu"] - sum(ours[p] for p in PHASE_NAMES)
    rows.append(f"| the rest | {rest_sdk:.2f} | {rest:.2f} | {rest - rest_sdk:+.2f} |")
    rows.append(f"| all | {sdk['cpu']:.2f} | {ours['cpu']:.2f} | {ours['cpu'] - sdk['cpu']:+.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--update-results", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "URL", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--time-building", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, url, rows = args.child
        child(side, url, int(rows), time_building=args.time_building)
        return
    runs = measure(args.rows, args.repeats)
    publish(MARK, roundtrip_section(args.rows, runs), args.update_results)


if __name__ == "__main__":
    main()
