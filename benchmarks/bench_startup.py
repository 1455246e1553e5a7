"""Start-up cost: whole processes, from spawning the interpreter to its exit.

Four contenders, each a fresh interpreter:

- floor: ``python -c pass`` (what every Python command pays);
- ``batchport --help``;
- ``batchport validate small.jsonl`` (100 chat requests, valid, so the command also plans
  how the file would be split);
- ``python -c "import batchport; batchport.BatchBuilder()"``.

``batchport`` is the console script next to this interpreter (``python -m batchport``
where there is none). Runs alternate between the contenders, one of each per round, so
drift in machine load hits them alike; each figure is the median (min-max) of
``--repeats`` rounds. CPU is the child's user + system time (``RUSAGE_CHILDREN``), which
other work on the machine disturbs less than wall time. Set ``PYTHONPATH`` to measure
another checkout (its ``src`` and ``emulator``).

    .venv/bin/python benchmarks/bench_startup.py [--repeats 20] [--update-results]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import chat_line, machine_with_cpu_model, publish, section, spread

MARK = "bench_startup"
ROWS = 100
FLOOR = "floor"
#: the floor of the machine the targets in seconds were set on: there `batchport --help`
#: took 0.84 s, 69x `python -c pass`. A target divided by it is the same target as a
#: ratio to the floor, which holds on a faster or slower machine.
TARGET_FLOOR_S = 0.84 / 69


def _batchport() -> list[str]:
    script = Path(sys.executable).with_name("batchport")
    return [str(script)] if script.exists() else [sys.executable, "-m", "batchport"]


def contenders(small: Path) -> dict[str, tuple[list[str], float | None]]:
    """Label -> (argv, target whole-process seconds or None)."""
    return {
        FLOOR: ([sys.executable, "-c", "pass"], None),
        "`batchport --help`": ([*_batchport(), "--help"], 0.15),
        "`batchport validate small.jsonl`": ([*_batchport(), "validate", str(small)], 0.3),
        "`import batchport; batchport.BatchBuilder()`": (
            [sys.executable, "-c", "import batchport; batchport.BatchBuilder()"],
            0.1,
        ),
    }


def time_process(argv: list[str]) -> tuple[float, float]:
    """Wall seconds from spawn to exit, and the child's user + system CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def write_small(path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(ROWS):
            fh.write(json.dumps(chat_line(f"r-{i}", f"Review {i}: great phone", 64)) + "\n")


def run(repeats: int) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        small = Path(tmp) / "small.jsonl"
        write_small(small)
        table = contenders(small)
        for argv, _ in table.values():  # one untimed run each: file caches warm alike
            time_process(argv)
        walls: dict[str, list[float]] = {label: [] for label in table}
        cpus: dict[str, list[float]] = {label: [] for label in table}
        for round_no in range(repeats):
            labels = list(table)
            shift = round_no % len(labels)  # rotate who goes first
            for label in labels[shift:] + labels[:shift]:
                wall, cpu = time_process(table[label][0])
                walls[label].append(wall)
                cpus[label].append(cpu)

    floor = statistics.median(walls[FLOOR])
    rows, verdicts = [], []
    for label, (_, target) in table.items():
        median = statistics.median(walls[label])
        name = "floor: `python -c pass`" if label == FLOOR else label
        rows.append(
            f"| {name} | {spread(walls[label], '{:.3f}')} | {median / floor:.1f}x "
            f"| {spread(cpus[label], '{:.3f}')} | {f'{target:.2f}' if target else '-'} |"
        )
        if target is not None:
            ratio, target_ratio = median / floor, target / TARGET_FLOOR_S
            verdicts.append(
                f"- {label}: {median:.3f} s median (floor {floor:.3f} s), target "
                f"{target:.2f} s: {'met' if median <= target else 'MISSED'}; as a ratio to "
                f"the floor, {ratio:.1f}x against the target's {target_ratio:.1f}x: "
                f"{'met' if ratio <= target_ratio else 'MISSED'}"
            )
    return section(
        MARK,
        "Start-up: `batchport --help`, `batchport validate`, `BatchBuilder()`",
        ".venv/bin/python benchmarks/bench_startup.py"
        + (f" --repeats {repeats}" if repeats != 20 else "")
        + " --update-results",
        machine_with_cpu_model(),
        [
            f"Whole processes, spawn to exit; {repeats} rounds, one run of each contender per "
            "round in rotating order, after one untimed run each. Figures are median "
            "(min-max) seconds; the ratio is the median's to the floor's. CPU is the child's "
            f"user + system time. `small.jsonl` holds {ROWS} valid chat requests. Measured "
            "on a shared 2-core machine with other work running, so single runs vary.",
            "",
            "| contender | wall s | x floor | CPU s | target s |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            *verdicts,
            f"- the targets in seconds were set on a machine whose floor was "
            f"{TARGET_FLOOR_S:.3f} s (`batchport --help` then took 0.84 s, 69x "
            f"`python -c pass`); this run's floor is {floor / TARGET_FLOOR_S:.1f}x that, "
            "so each target is also given as the same ratio to the floor",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--update-results", action="store_true", help="write the section into RESULTS.md"
    )
    args = parser.parse_args()
    publish(MARK, run(args.repeats), args.update_results)


if __name__ == "__main__":
    main()
