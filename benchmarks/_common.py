"""What the benchmark scripts share: machine description, RESULTS.md sections, the
emulator process, and timing contenders in fresh subprocesses (with the ``main`` of
the scripts that do).

Peak memory of a child process is read from its own ``VmHWM`` (``/proc/self/status``),
not from ``ru_maxrss``: on Linux a process keeps the larger ``ru_maxrss`` of the address
space it had before ``execve``, and ``subprocess`` starts children with ``vfork`` (the
parent's address space), so every child would report at least the parent's peak.

Each script runs as ``python benchmarks/<name>.py``, which puts this folder first on
``sys.path``; that is how they import this module.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().with_name("RESULTS.md")
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def machine(*, ram: bool = False) -> str:
    """Short description: architecture, CPU count, optionally RAM, Python version."""
    parts = [platform.machine(), f"{os.cpu_count()} CPUs"]
    if ram:
        import psutil

        parts.append(f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM")
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts)


def machine_with_cpu_model() -> str:
    """Long description: CPU count and model name (from /proc/cpuinfo), Python, OS kernel."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def section(mark: str, title: str, command: str, machine_text: str, body: Sequence[str]) -> str:
    """One RESULTS.md section: markers, title, command, date and machine, then ``body``."""
    return "\n".join(
        [
            f"<!-- {mark}:start -->",
            f"## {title}",
            "",
            f"Command: `{command}`",
            f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine_text}.",
            *body,
            f"<!-- {mark}:end -->",
        ]
    )


def update_results(mark: str, text_section: str, results: Path = RESULTS) -> None:
    """Replace the ``mark`` section of RESULTS.md with ``text_section``, or append it."""
    text = results.read_text(encoding="utf-8") if results.exists() else ""
    start, end = f"<!-- {mark}:start -->", f"<!-- {mark}:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + text_section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + text_section + "\n"
    results.write_text(text, encoding="utf-8")


def publish(mark: str, text_section: str, update: bool) -> None:
    """Print the section; with ``update``, also write it into RESULTS.md."""
    print(text_section)
    if update:
        update_results(mark, text_section)


@contextmanager
def emulator_process(*extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start ``python -m batchport_emulator`` on a free loopback port; yield its URL and
    process, and stop it on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchport_emulator", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # The first line the server prints ends with its base URL.
        yield proc.stdout.readline().strip().rsplit(" ", 1)[-1], proc
    finally:
        proc.terminate()
        proc.wait(10)


def peak_rss_mb() -> float:
    """This process's own peak resident set size in MB (2**20 bytes).

    ``VmHWM`` where Linux offers it: the high-water mark of the address space created
    at ``execve``, so nothing of the parent's is counted. Elsewhere ``ru_maxrss``
    (kilobytes on Linux and BSD, bytes on macOS), which may include the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def measure_in_child(script: str, *args: str) -> dict[str, Any]:
    """Run ``script --child ARGS`` in a fresh interpreter and return the JSON it prints
    (its own timings: imports and cold caches stay out of the parent's numbers).

    Two keys are added from outside the child: ``process_seconds``, the wall time from
    spawning the interpreter to its exit (start-up and imports included), and
    ``process_cpu_seconds``, the child's user + system CPU time (from the growth of this
    process's ``RUSAGE_CHILDREN``, which sums the children it has waited for).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, script, "--child", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = json.loads(proc.stdout)
    result["process_seconds"] = wall
    result["process_cpu_seconds"] = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime
    )
    return result


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """``median (min-max)`` of ``values``, each formatted with ``fmt``."""
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))}-{fmt.format(max(values))})"
    )


def child_bench_main(
    doc: str | None,
    mark: str,
    child_metavar: tuple[str, str],
    child: Callable[[str, str], None],
    run: Callable[[int], str],
) -> None:
    """``main`` of a script that times each contender with :func:`measure_in_child`.

    Options: ``--repeats N`` (default 3) and ``--update-results``; the hidden ``--child A B``
    is how the script calls itself, and runs ``child(A, B)`` instead of ``run(repeats)``.
    """
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--update-results", action="store_true", help="write the section into RESULTS.md"
    )
    parser.add_argument("--child", nargs=2, metavar=child_metavar, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    publish(mark, run(args.repeats), args.update_results)


def chat_line(custom_id: str, content: str, max_tokens: int) -> dict[str, Any]:
    """One batch input line: a single-message gpt-4o-mini chat completion request."""
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens,
        },
    }
