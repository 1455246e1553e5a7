"""Every benchmark, one after another (what ``make bench`` runs).

Each script runs in its own process and, with ``--update-results``, rewrites only its
own section of ``benchmarks/RESULTS.md``. ``--quick`` shrinks the sizes for a smoke
run (and then leaves RESULTS.md alone).

    .venv/bin/python benchmarks/run_all.py [--quick] [--no-update] [--skip NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

# (script, full-size arguments, quick arguments)
SCRIPTS: list[tuple[str, list[str], list[str]]] = [
    ("bench_startup.py", [], ["--repeats", "3"]),
    ("bench_validate.py", [], ["--repeats", "1"]),
    ("bench_build.py", [], ["--repeats", "1"]),
    (
        "bench_emulator.py",
        ["--rows", "50000", "--upload-mb", "200"],
        ["--rows", "5000", "--repeats", "1"],
    ),
    ("bench_roundtrip.py", [], ["--rows", "5000", "--repeats", "1"]),
    ("bench_emulator_capacity.py", [], ["--rows", "5000", "--repeats", "1"]),
    ("bench_reconcile.py", [], ["--repeats", "1"]),
    ("bench_tradeoff.py", [], ["--sweep-rows", "1e2"]),
    ("bench_million.py", [], ["--rows", "20000"]),
    ("bench_million.py", ["--via", "writer"], ["--rows", "20000", "--via", "writer"]),
    ("bench_workers.py", [], ["--rows", "20000"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description="run every benchmark")
    parser.add_argument("--quick", action="store_true", help="small sizes, RESULTS.md untouched")
    parser.add_argument("--no-update", action="store_true", help="leave RESULTS.md untouched")
    parser.add_argument("--skip", nargs="*", default=[], metavar="NAME", help="scripts to skip")
    args = parser.parse_args()
    failed: list[str] = []
    for script, full, quick in SCRIPTS:
        if script in args.skip or script.removesuffix(".py") in args.skip:
            continue
        if not (HERE / script).exists():
            print(f"== {script}: not present, skipped")
            continue
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        if not (args.quick or args.no_update):
            cmd.append("--update-results")
        print(f"== {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd)
        print(f"== {script}: exit {code} in {time.perf_counter() - t0:.1f} s", flush=True)
        if code:
            failed.append(script)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
