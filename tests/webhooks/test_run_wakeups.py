"""The runner acts on webhooks: the emulator's signed events wake the shards.

Every run here polls at most once an hour (``poll_fallback_s=3600``). The emulator's
clock is frozen and moved only by the runner's sleeps (:class:`EmulatorClock`), and a
batch finishes 600 virtual seconds after it is created. So a shard polls once right
after submitting; then either an event wakes it well before the hour is up (it polls
once more and is done), or nothing does and it waits the full hour.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store._pg import fresh_schema

import batchport as bp
from batchport.backends.base import Backend
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.models import Job
from batchport.requests import Request
from batchport.store import open_store
from batchport.webhooks import WebhookOptions, make_app, serving, store_waker
from batchport_emulator import Emulator

from .wh_signing import OTHER_SECRET, SECRET

HOUR = 3600.0
SHARDS = 3
ROWS_PER_SHARD = 2
#: a batch waits this long (virtual seconds) in the queue, then runs at once
QUEUE_S = 600.0
CONFIG: dict[str, Any] = {
    "clock": {"scale": 0},
    "progression": {
        "kind": "throughput",
        "queue_delay_s": QUEUE_S,
        "validating_s": 0,
        "finalizing_s": 0,
        "requests_per_s": 1000,
    },
}


def chat(i: int) -> Request:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"row {i}"}]}
    return Request(custom_id=f"r{i:03d}", url="/v1/chat/completions", body=body)


REQUESTS = [chat(i) for i in range(SHARDS * ROWS_PER_SHARD)]


class EmulatorClock:
    """The run's clock is the emulator's: sleeping moves the emulator's virtual time.
    A short real pause per sleep lets a webhook travel over loopback meanwhile."""

    def __init__(self, emu: Emulator, real_sleep: float = 0.01) -> None:
        self.emu = emu
        self.real_sleep = real_sleep

    def now(self) -> float:
        return self.emu.state.clock.now()

    async def sleep(self, seconds: float) -> None:
        self.emu.advance_clock(max(0.0, seconds))
        await asyncio.sleep(self.real_sleep)


class Counted:
    """Counts the polls per job and the submits a backend is asked for."""

    def __init__(self, backend: Backend) -> None:
        self.polls: Counter[str] = Counter()
        self.submits = 0
        poll, submit = backend.poll, backend.submit

        async def counting_poll(job: Job) -> Job:
            self.polls[job.id] += 1
            return await poll(job)

        async def counting_submit(*args: Any) -> Job:
            self.submits += 1
            return await submit(*args)

        backend.poll = counting_poll  # type: ignore[method-assign]
        backend.submit = counting_submit  # type: ignore[method-assign]


@pytest.fixture
async def started() -> AsyncIterator[Callable[[dict[str, Any]], Any]]:
    made: list[EmulatorBackend] = []

    async def start(extra: dict[str, Any]) -> tuple[EmulatorBackend, Emulator, Counted]:
        config = {**CONFIG, **extra}
        backend = EmulatorBackend(config)
        made.append(backend)
        await backend.start()
        assert backend.emulator is not None
        return backend, backend.emulator, Counted(backend)

    yield start
    for backend in made:
        await backend.aclose()


def send_to(emu: Emulator, secret: str = SECRET) -> Callable[[str], None]:
    """``on_listening``: point the emulator's webhooks at the receiver once it listens."""
    return lambda url: emu.configure({"webhooks": {"urls": [url], "secret": secret}})


def hooks(emu: Emulator, secret: str = SECRET, **kw: Any) -> WebhookOptions:
    return WebhookOptions(
        secret=SECRET, poll_fallback_s=HOUR, store_check_s=30, on_listening=send_to(emu, secret),
        **kw,
    )  # fmt: skip


async def run_with(
    backend: Backend, emu: Emulator, store: Path | str, webhooks: WebhookOptions
) -> tuple[bp.Run, float]:
    """The run (in the store at ``store``: a directory or a URL), and how much of its
    clock it used."""
    clock = EmulatorClock(emu)
    start = clock.now()
    run = await bp.run(
        REQUESTS, backend=backend, store=str(store), clock=clock, progress=False,
        max_rows_per_shard=ROWS_PER_SHARD, webhooks=webhooks,
    )  # fmt: skip
    return run, clock.now() - start


def deliveries(emu: Emulator) -> Counter[str]:
    return Counter(d.status for d in emu.state.webhooks.deliveries())


def assert_complete(run: bp.Run) -> None:
    with run:
        assert run.state == "done"
        assert run.outcomes == {"succeeded": len(REQUESTS)}
        assert [r.custom_id for r in run.results()] == [q.custom_id for q in REQUESTS]


async def test_events_drive_the_run_with_one_poll_per_shard_after_each(
    started: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend, emu, counted = await started({})
    run, used = await run_with(backend, emu, tmp_path, hooks(emu))
    shards = run.store.shards(run.id)
    assert_complete(run)
    assert len(shards) == SHARDS and counted.submits == SHARDS
    # one poll right after the submit, one after the event: never the hourly one
    assert sorted(counted.polls.values()) == [2] * SHARDS
    assert used < HOUR
    assert deliveries(emu) == {"delivered": SHARDS}
    assert "receiving webhooks at http://127.0.0.1:" in caplog.text
    for secret in (SECRET, SECRET.removeprefix("whsec_")):
        assert secret not in caplog.text


async def test_dropped_events_cost_an_hour_of_waiting_not_a_result(
    started: Any, tmp_path: Path
) -> None:
    backend, emu, counted = await started({"faults": {"webhook_drop_rate": 1.0}})
    run, used = await run_with(backend, emu, tmp_path, hooks(emu))
    assert_complete(run)
    assert sorted(counted.polls.values()) == [2] * SHARDS  # the second is the hourly one
    assert used >= HOUR
    assert deliveries(emu) == {"dropped": SHARDS}


@pytest.mark.parametrize(
    "faults",
    [
        {"webhook_duplicate_rate": 1.0},
        {"webhook_reorder_rate": 1.0, "webhook_delay_s": 120},
        {"webhook_duplicate_rate": 0.5, "webhook_reorder_rate": 0.5},
    ],
)
async def test_duplicated_and_reordered_events_change_nothing(
    started: Any, tmp_path: Path, faults: dict[str, Any]
) -> None:
    backend, emu, counted = await started({"faults": faults})
    run, used = await run_with(backend, emu, tmp_path, hooks(emu))
    assert_complete(run)
    assert counted.submits == SHARDS  # no shard submitted twice
    assert all(n <= 2 for n in counted.polls.values()), counted.polls
    assert used < HOUR
    assert set(deliveries(emu)) == {"delivered"}


@pytest.mark.parametrize("forgery", ["another key", "an old timestamp"])
async def test_forged_events_wake_nothing(started: Any, tmp_path: Path, forgery: str) -> None:
    backend, emu, counted = await started({"webhooks": {"max_attempts": 2}})
    if forgery == "another key":
        webhooks = hooks(emu, secret=OTHER_SECRET)
    else:  # the receiver's clock is an hour ahead of the sender's timestamps
        webhooks = hooks(emu, clock=lambda: time.time() + HOUR)
    run, used = await run_with(backend, emu, tmp_path, webhooks)
    assert_complete(run)
    # every shard waited the full hour: no event woke one
    assert sorted(counted.polls.values()) == [2] * SHARDS
    assert used >= HOUR
    refused = [a.status for d in emu.state.webhooks.deliveries() for a in d.attempts]
    assert refused and set(refused) == {400}


@pytest.fixture(params=["sqlite", "postgres"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The run store: a SQLite home, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "home")
    else:
        with fresh_schema() as url:
            yield url


async def test_a_receiver_in_another_process_wakes_the_run_through_the_store(
    started: Any, store_at: str
) -> None:
    """What ``batchport webhooks serve --store URL`` does, on its own store connection:
    the run serves no receiver and only watches its shards' ``woken_at``."""
    backend, emu, counted = await started({})
    other, _ = open_store(store_at)
    try:
        app = make_app(SECRET, store_waker(other))
        async with serving(app, "127.0.0.1", 0, "/webhooks") as url:
            send_to(emu)(url)
            watch = WebhookOptions(poll_fallback_s=HOUR, store_check_s=30)
            run, used = await run_with(backend, emu, store_at, watch)
    finally:
        other.close()
    shards = run.store.shards(run.id)
    assert_complete(run)
    assert sorted(counted.polls.values()) == [2] * SHARDS
    assert used < HOUR
    assert all(s.woken_at is not None for s in shards)


async def test_resume_takes_webhooks_too(started: Any, tmp_path: Path) -> None:
    backend, emu, counted = await started({})
    clock = EmulatorClock(emu)
    submitted = await bp.run(
        REQUESTS, backend=backend, home=tmp_path, clock=clock, progress=False,
        max_rows_per_shard=ROWS_PER_SHARD, submit_only=True,
    )  # fmt: skip
    with submitted:
        run_id = submitted.id
    start = clock.now()
    run = await bp.resume(run_id, backend=backend, home=tmp_path, clock=clock,
                          progress=False, webhooks=hooks(emu))  # fmt: skip
    assert_complete(run)
    assert clock.now() - start < HOUR
    assert sorted(counted.polls.values()) == [2] * SHARDS


def test_options_never_show_the_secret() -> None:
    options = WebhookOptions(secret=SECRET, port=8080)
    for text in (repr(options), str(options)):
        assert SECRET.removeprefix("whsec_") not in text
        assert "secret='<set>'" in text and "port=8080" in text
    assert "secret=None" in repr(WebhookOptions())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secret": "whsec_***"}, "not valid base64"),
        ({"port": 70000}, "between 0 and 65535"),
        ({"path": "hooks"}, "must start with '/'"),
        ({"poll_fallback_s": 0}, "positive"),
    ],
)
def test_bad_options_are_refused_without_repeating_the_secret(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(bp.ConfigError, match=message) as caught:
        WebhookOptions(**kwargs)
    assert "***" not in str(caught.value)


async def test_gemini_events_name_the_batch_as_the_gemini_backend_records_it(
    tmp_path: Path,
) -> None:
    """Gemini's events say ``batches/…``, as its jobs' names do: both paths find them."""
    from batchport.backends.gemini import GeminiBackend

    async with Emulator(CONFIG) as emu:
        for watch_store in (False, True):
            backend = GeminiBackend(
                base_url=emu.url, api_key="gm-test-key", models={"gpt-4o-mini": "gemini-2.5-flash"}
            )
            counted = Counted(backend)
            home = tmp_path / f"store-{watch_store}"
            other, _ = open_store(str(home))
            try:
                async with backend:
                    if watch_store:
                        app = make_app(SECRET, store_waker(other))
                        async with serving(app, "127.0.0.1", 0, "/webhooks") as url:
                            send_to(emu)(url)
                            watch = WebhookOptions(poll_fallback_s=HOUR, store_check_s=30)
                            run, used = await run_with(backend, emu, home, watch)
                    else:
                        run, used = await run_with(backend, emu, home, hooks(emu))
            finally:
                other.close()
            jobs = [s.job_id or "" for s in run.store.shards(run.id)]
            assert_complete(run)
            assert all(j.startswith("batches/") for j in jobs) and len(jobs) == SHARDS
            assert sorted(counted.polls.values()) == [2] * SHARDS, watch_store
            assert used < HOUR, watch_store


async def test_a_taken_port_stops_the_run_before_anything_is_submitted(
    started: Any, tmp_path: Path
) -> None:
    backend, emu, counted = await started({})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(bp.ConfigError, match=f"cannot receive webhooks on 127.0.0.1:{port}"):
            await run_with(backend, emu, tmp_path, hooks(emu, port=port))
    assert counted.submits == 0


async def test_workers_watching_the_store_are_woken_by_its_receiver(
    started: Any, store_at: str
) -> None:
    """``batchport worker --webhooks-from-store`` beside ``batchport webhooks serve
    --store``: the workers poll each job once after submitting and once after its event,
    not every hour."""
    from batchport.runner.worker import work

    backend, emu, counted = await started({})
    enq = await bp.run(
        REQUESTS, backend=backend, store=store_at, progress=False, enqueue=True,
        max_rows_per_shard=ROWS_PER_SHARD,
    )  # fmt: skip
    run_id = enq.id
    enq.close()
    other, _ = open_store(store_at)
    workers = [open_store(store_at)[0] for _ in range(2)]
    try:
        app = make_app(SECRET, store_waker(other))
        async with serving(app, "127.0.0.1", 0, "/webhooks") as url:
            send_to(emu)(url)
            watch = WebhookOptions(poll_fallback_s=HOUR, store_check_s=30)
            clock = EmulatorClock(emu)
            start = clock.now()
            await asyncio.gather(
                *(
                    work(
                        st,
                        backend_for=lambda rec: backend,
                        clock=clock,
                        webhooks=watch,
                        poll_s=0.01,
                        idle_exit_s=0.5,
                    )
                    for st in workers
                )
            )
            used = clock.now() - start
    finally:
        for st in (other, *workers):
            st.close()
    with bp.open_run(run_id, store=store_at) as run:
        assert run.state == "done"
        assert run.outcomes == {"succeeded": len(REQUESTS)}
    assert sorted(counted.polls.values()) == [2] * SHARDS
    assert used < HOUR


async def test_a_worker_refuses_to_serve_webhooks_itself(tmp_path: Path) -> None:
    from batchport.errors import ConfigError
    from batchport.runner.worker import work

    st, _ = open_store(str(tmp_path))
    try:
        with pytest.raises(ConfigError, match="webhooks serve --store"):
            await work(st, webhooks=WebhookOptions(secret=SECRET), idle_exit_s=0)
    finally:
        st.close()
