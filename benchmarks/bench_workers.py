"""1,000,000 rows driven by 1, 2 and 4 ``batchport worker`` processes on PostgreSQL,
against one worker on the embedded SQLite store.

Each configuration gets a fresh emulator process (instant profile), a fresh store (a
new PostgreSQL schema, or a new SQLite home), and the same input file. The run is
enqueued first (``batchport submit --enqueue``: validation, sharding into 20 shards of
50,000 rows and the ledger, timed on its own), then N worker processes are started
together and timed until the run is ``done`` (submit, poll, download, reconcile).
Reported: enqueue wall time, drive wall time, rows settled per second of drive time,
the store's size at the end (PostgreSQL: every table, index and TOAST of the schema;
SQLite: the database, its WAL and the blob directory), and each configuration's drive
time as a ratio to the one-worker SQLite run.

Assumptions, stated: the emulator answers at once (so this measures batchport's own
work, not a provider's queue); every process shares this machine's cores with the
emulator and the database server, so more workers than cores cannot run faster here;
on separate hosts, workers add CPU while the database stays one.

    .venv/bin/python benchmarks/bench_workers.py [--rows 1000000] [--workers 1,2,4]
        [--store postgresql://postgres@127.0.0.1:5432/test] [--update-results]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from _common import emulator_process, machine, section, update_results

import batchport as bp
from batchport.store import open_store

MARK = "bench_workers"
SHARD_ROWS = 50_000
ROOT = Path(__file__).resolve().parents[1]


def write_input(path: Path, rows: int) -> None:
    bp.write_requests(
        path,
        (
            bp.Request.build(
                f"req-{i}",
                "/v1/chat/completions",
                {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"Classify review number {i}."}],
                    "max_tokens": 64,
                },
            )
            for i in range(rows)
        ),
    )


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "batchport", *args]


def store_args(store: str) -> list[str]:
    return ["--store", store] if store.startswith("postgres") else ["--home", store]


def enqueue(store: str, emulator: str, source: Path, run_id: str) -> float:
    cmd = _cli("submit", str(source), "--enqueue", *store_args(store), "--emulator-url",
               emulator, "--run-id", run_id, "--max-rows", str(SHARD_ROWS),
               "--poll-interval", "0.2", "--no-progress")  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def drive(store: str, run_id: str, workers: int, home_root: Path) -> float:
    """Start ``workers`` processes, each with its own home, and time until the run is
    done."""
    procs = []
    start = time.perf_counter()
    for i in range(workers):
        home = home_root / f"w{i}"
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BATCHPORT_HOME": str(home)}
        if not store.startswith("postgres"):
            env["BATCHPORT_HOME"] = store
        procs.append(
            subprocess.Popen(
                _cli(
                    *["worker", "--concurrency", "4", "--poll", "0.2", "--exit-when-idle", "3"],
                    *store_args(store),
                ),
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
        )
    st, _ = open_store(store)
    try:
        while st.get_run(run_id).state not in ("done", "failed", "cancelled"):
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        state = st.get_run(run_id).state
        settled = sum(v for k, v in st.outcome_counts(run_id).items() if k is not None)
    finally:
        st.close()
    for p in procs:
        p.wait(timeout=120)
    if state != "done":
        raise SystemExit(f"run {run_id} ended {state}")
    return elapsed if settled else float("nan")


def size_of(store: str) -> int:
    if store.startswith("postgres"):
        import psycopg

        from batchport.store.pgschema import split_url

        conninfo, schema = split_url(store)
        with psycopg.connect(conninfo) as db:
            row = db.execute(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (schema,),
            ).fetchone()
            return int(row[0]) if row else 0
    return sum(p.stat().st_size for p in Path(store).rglob("*") if p.is_file())


def fresh_pg(base: str) -> str:
    parts = urlsplit(base)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    query = "&".join(filter(None, [parts.query, urlencode({"schema": schema})]))
    return urlunsplit(parts._replace(query=query))


def drop_pg(url: str) -> None:
    import psycopg
    from psycopg import sql

    from batchport.store.pgschema import split_url

    conninfo, schema = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def reading(rows_out: list[tuple[str, float, float, int]]) -> str:
    """What the table says, in words, from its own figures."""
    sqlite, pg = rows_out[0], rows_out[1:]
    if not pg:
        return ""
    base = sqlite[2]
    one = pg[0]
    best = min(pg, key=lambda r: r[2])
    text = (
        f"What this run shows: one worker on PostgreSQL takes {one[2] / base:.2f}x the SQLite "
        "worker's drive time; beyond its own work it waits on the database server's commits, "
        "which share this machine's cores. "
    )
    if best is not one:
        text += (
            f"The fastest PostgreSQL configuration here is {best[0].split(', ')[1]} "
            f"({best[2] / base:.2f}x), overlapping one worker's waits with another's work. "
        )
        if pg[-1] is not best:
            text += (
                f"{pg[-1][0].split(', ')[1].capitalize()} took {pg[-1][2] / base:.2f}x: "
                "beyond that, workers compete for the cores. "
            )
    else:
        text += "More workers did not help on this machine: they compete for its cores. "
    smaller = "SQLite" if sqlite[3] <= one[3] else "PostgreSQL"
    text += (
        f"The {smaller} store is the smaller ({sqlite[3] / 2**20:,.0f} MB against "
        f"{one[3] / 2**20:,.0f} MB): the SQLite ledger keys each row by a small integer per "
        "run and keeps shard inputs compressed on disk, while the PostgreSQL ledger keeps the "
        "run id in every row and stores blobs as written (TOAST compresses the shard inputs; "
        "result blobs arrive compressed). Several workers are for availability and for CPU on "
        "more hosts; on one small machine, one or two are enough."
    )
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument(
        "--store",
        default=os.environ.get(
            "BATCHPORT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="the PostgreSQL server (a fresh schema per configuration)",
    )
    ap.add_argument("--update-results", action="store_true")
    args = ap.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    rows_out: list[tuple[str, float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        write_input(source, args.rows)
        configs = [("SQLite, 1 worker", None, 1)] + [
            (f"PostgreSQL, {n} worker{'s' if n > 1 else ''}", args.store, n) for n in counts
        ]
        for label, pg, n in configs:
            store = fresh_pg(pg) if pg else str(Path(tmp) / f"sqlite-{n}")
            run_id = f"bench-{uuid.uuid4().hex[:8]}"
            try:
                with emulator_process() as (url, _):
                    t_enq = enqueue(store, url, source, run_id)
                    t_drive = drive(store, run_id, n, Path(tmp) / f"homes-{label[:6]}-{n}")
                size = size_of(store)
            finally:
                if pg:
                    drop_pg(store)
            rows_out.append((label, t_enq, t_drive, size))
            print(f"{label}: enqueue {t_enq:.1f} s, drive {t_drive:.1f} s, store "
                  f"{size / 2**20:.0f} MB", flush=True)  # fmt: skip

    base = rows_out[0][2]
    body = [
        "Each configuration: a fresh emulator process (instant profile), a fresh store, "
        f"the same {args.rows:,}-row input in {-(-args.rows // SHARD_ROWS)} shard(s) of up to "
        f"{SHARD_ROWS:,}. *Enqueue*: `batchport submit --enqueue` (validate, shard, ledger). "
        "*Drive*: from starting the workers (`--concurrency 4` each) until the run is done "
        "(submit, poll, download, reconcile). The emulator, the database server and every "
        "worker share this machine's cores, so workers beyond the core count cannot help "
        "here; on separate hosts they add CPU while the one database is shared.",
        "",
        "| store, workers | enqueue s | drive s | rows settled / s | store size MB | "
        "drive vs SQLite, 1 worker |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, t_enq, t_drive, size in rows_out:
        body.append(
            f"| {label} | {t_enq:.1f} | {t_drive:.1f} | {args.rows / t_drive:,.0f} | "
            f"{size / 2**20:,.0f} | {t_drive / base:.2f}x |"
        )
    body += ["", reading(rows_out)]
    command = "python benchmarks/bench_workers.py" + (
        f" --rows {args.rows}" if args.rows != 1_000_000 else ""
    )
    text = section(
        MARK,
        f"Workers: {args.rows:,} rows, 1/2/4 workers on PostgreSQL vs 1 on SQLite",
        command + (" --update-results" if args.update_results else ""),
        machine(ram=True),
        body,
    )
    print(text)
    if args.update_results:
        update_results(MARK, text)


if __name__ == "__main__":
    main()
