"""Wake-ups at their own seam: a store, a virtual clock, no HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchport.runner import InstantClock, PollPolicy, SystemClock
from batchport.runner.wake import Wakeups
from batchport.store import RunStore, ShardRecord, ShardState, open_store
from batchport.webhooks import WebhookOptions


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    st, _ = open_store(str(tmp_path / "home"))
    st.create_run("r", backend="memory", provider="openai", fingerprint="", options="{}")
    for i, job in enumerate(("batch_a", "batches/g")):
        st.add_shard(ShardRecord.planned(
            "r", f"s{i}", endpoint="/v1/chat/completions", model="m", caller_model="m",
            input_key=f"r/s{i}.jsonl", rows=1, bytes=1, est_tokens=1, content_hash="h",
        ))  # fmt: skip
        st.update_shard("r", f"s{i}", state=ShardState.SUBMITTING)
        st.update_shard("r", f"s{i}", state=ShardState.SUBMITTED, job_id=job)
    yield st
    st.close()


def wakeups(store: RunStore, clock: InstantClock) -> Wakeups:
    return Wakeups(store, "r", clock, WebhookOptions(poll_fallback_s=600, store_check_s=5))


async def test_without_a_wake_up_the_wait_lasts_the_interval_in_steps(store: RunStore) -> None:
    clock = InstantClock()
    wake = wakeups(store, clock)
    assert await wake.wait(store.get_shard("r", "s0"), "batch_a", 600) is False
    assert clock.now() == 600 and clock.slept == [5.0] * 120
    assert wake.woken == 0


async def test_an_in_process_wake_up_ends_the_wait_once(store: RunStore) -> None:
    clock = InstantClock()
    wake = wakeups(store, clock)
    shard = store.get_shard("r", "s1")
    wake.wake("batches/g")  # before anyone waits: the next wait does not wait
    assert await wake.wait(shard, "batches/g", 600) is True
    assert clock.now() == 0
    assert await wake.wait(shard, "batches/g", 60) is False  # used up
    wake.wake("g")  # Gemini's bare name is the same job
    assert await wake.wait(shard, "batches/g", 60) is True
    wake.wake("batch_other")  # another job: nothing for this shard
    assert await wake.wait(shard, "batches/g", 60) is False
    assert wake.woken == 2


async def test_a_wake_up_during_the_wait_ends_it_early(store: RunStore) -> None:
    clock = InstantClock(real_sleep=0.001)
    wake = wakeups(store, clock)
    waiting = asyncio.create_task(wake.wait(store.get_shard("r", "s0"), "batch_a", 1e9))
    await asyncio.sleep(0.02)  # a few of its steps go by
    assert clock.slept and not waiting.done()
    wake.wake("batch_a")
    assert await waiting is True
    assert clock.now() < 1e9


async def test_another_process_waking_the_store_ends_the_wait(store: RunStore) -> None:
    clock = InstantClock()
    wake = wakeups(store, clock)
    shard = store.get_shard("r", "s1")
    assert store.wake_job("batches/g", 1_750_000_000.0) == [("r", "s1")]
    # the record read before the event: the move is seen at the first look
    assert await wake.wait(shard, "batches/g", 600) is True
    assert clock.now() == 0
    assert await wake.wait(shard, "batches/g", 60) is False  # no second move
    assert await wake.wait(store.get_shard("r", "s0"), "batch_a", 60) is False


def test_webhooks_replace_the_poll_interval_and_keep_the_stall_timeout(store: RunStore) -> None:
    wake = wakeups(store, InstantClock())
    policy = wake.poll_policy(PollPolicy(interval=0.05, max_interval=1.0, stall_timeout=99.0))
    assert policy == PollPolicy(interval=600, max_interval=600, factor=1.0, stall_timeout=99.0)
    assert policy.next_interval(600, changed=False) == 600
    secret_free = repr(Wakeups(store, "r", InstantClock(), WebhookOptions(secret="whsec_YWJj")))
    assert "YWJj" not in secret_free


async def test_with_a_receiver_a_wake_up_cuts_a_real_sleep_short(store: RunStore) -> None:
    """On the system clock a step of the wait is a real sleep (30 s here): an event
    the run's receiver accepts must end it, not the next look at the store."""
    options = WebhookOptions(secret="whsec_YWJj", store_check_s=30, poll_fallback_s=600)
    wake = Wakeups(store, "r", SystemClock(), options)
    await wake.start()
    try:
        assert wake.url is not None and wake.url.startswith("http://127.0.0.1:")
        waiting = asyncio.create_task(wake.wait(store.get_shard("r", "s0"), "batch_a", 600))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        wake.wake("batch_a")
        # a guard against a hang, not a measure: the step it cuts short lasts 30 s
        assert await asyncio.wait_for(waiting, 10) is True
    finally:
        await wake.aclose()
        await wake.aclose()  # twice is fine
