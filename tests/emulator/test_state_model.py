"""Pure state pieces: lifecycle table, clock, ids, params, pagination, faults, progression."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchport_emulator.batch_params import parse_create_params
from batchport_emulator.batches import Batch, FaultPlan, RequestCounts
from batchport_emulator.clock import VirtualClock
from batchport_emulator.config import (
    AfterPollsProgression,
    EmulatorConfig,
    FaultConfig,
    ThroughputProgression,
)
from batchport_emulator.errors import ApiError
from batchport_emulator.faults import FaultPolicy
from batchport_emulator.ids import IdFactory
from batchport_emulator.lifecycle import (
    EDGES,
    TERMINAL,
    IllegalTransition,
    Status,
    can_cancel,
    check_transition,
)
from batchport_emulator.pagination import parse_limit
from batchport_emulator.progression import ProgressionModel

GOOD = {"input_file_id": "file-1", "endpoint": "/v1/chat/completions", "completion_window": "24h"}


def test_lifecycle_allows_only_listed_edges() -> None:
    check_transition(Status.VALIDATING, Status.IN_PROGRESS)
    for terminal in TERMINAL:
        assert not any(src == terminal for src, _ in EDGES)
        assert not can_cancel(terminal)
    with pytest.raises(IllegalTransition):
        check_transition(Status.COMPLETED, Status.IN_PROGRESS)
    with pytest.raises(IllegalTransition):
        check_transition(Status.VALIDATING, Status.COMPLETED)


def test_clock_scale_freeze_advance_and_listeners() -> None:
    real = [100.0]
    clock = VirtualClock(scale=10.0, start=1_000.0, real=lambda: real[0])
    woken: list[int] = []
    clock.subscribe(lambda: woken.append(1))
    real[0] += 1.5
    assert clock.now() == pytest.approx(1_015.0)
    clock.set_scale(0)
    real[0] += 100
    assert clock.now() == pytest.approx(1_015.0)
    clock.advance(86_400)
    assert clock.now() == pytest.approx(87_415.0)
    assert clock.real_delay(5) == float("inf")
    clock.set_scale(2)
    assert clock.real_delay(5) == 2.5
    assert len(woken) == 3
    with pytest.raises(ValueError, match="negative"):
        clock.advance(-1)


def test_ids_look_real_and_repeat_under_a_seed() -> None:
    ids = IdFactory(7)
    assert re.fullmatch(r"file-[0-9A-Za-z]{22}", ids.file_id())
    assert re.fullmatch(r"batch_[0-9a-f]{32}", ids.batch_id())
    assert re.fullmatch(r"batch_req_[0-9a-f]{32}", ids.batch_request_id())
    assert re.fullmatch(r"req_[0-9a-f]{32}", ids.request_id())
    assert IdFactory(3).batch_id() == IdFactory(3).batch_id()
    assert IdFactory(3).batch_id() != IdFactory(4).batch_id()


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (
            {k: v for k, v in GOOD.items() if k != "input_file_id"},
            "missing_required_parameter",
            "input_file_id",
        ),
        ({**GOOD, "endpoint": "/v1/invalid/endpoint"}, "invalid_value", "endpoint"),
        ({**GOOD, "completion_window": "1h"}, "invalid_value", "completion_window"),
        ({**GOOD, "metadata": {"tags": ["a"]}}, "invalid_type", "metadata.tags"),
        (
            {**GOOD, "metadata": {f"k{i}": "v" for i in range(17)}},
            "object_above_max_properties",
            "metadata",
        ),
        ({**GOOD, "metadata": {"k" * 65: "v"}}, "property_name_above_max_length", "metadata"),
        ({**GOOD, "metadata": {"k": "v" * 513}}, "string_above_max_length", "metadata.k"),
        (
            {**GOOD, "output_expires_after": {"anchor": "created_at", "seconds": 10}},
            "invalid_value",
            "output_expires_after.seconds",
        ),
        ({**GOOD, "surprise": 1}, "unknown_parameter", "surprise"),
    ],
)
def test_create_params_refusals(body: dict[str, object], code: str, param: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_create_params(body)
    assert (info.value.status, info.value.code, info.value.param) == (400, code, param)


def test_create_params_accept_limits_exactly() -> None:
    meta = {f"{i:064d}": "v" * 512 for i in range(16)}
    params = parse_create_params(
        {
            **GOOD,
            "metadata": meta,
            "output_expires_after": {"anchor": "created_at", "seconds": 3600},
        }
    )
    assert params.metadata == meta
    assert params.output_expires_after_s == 3600


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    )
)
def test_create_params_never_crash_on_junk(body: object) -> None:
    try:
        parse_create_params(body)
    except ApiError as err:
        status = err.status
    else:
        status = 400
    assert status == 400


@given(st.text(max_size=12))
def test_parse_limit_is_400_or_in_range(raw: str) -> None:
    try:
        value = parse_limit({"limit": raw}, default=20, maximum=100)
    except ApiError as err:
        refused = (err.status, err.param)
    else:
        refused = (400, "limit")
        assert 1 <= value <= 100
    assert refused == (400, "limit")


def test_fault_draws_are_deterministic_and_follow_rates() -> None:
    config = FaultConfig(row_failure_rate=0.3, row_failure_statuses=[429, 500])
    a, b = FaultPolicy(config, seed=1), FaultPolicy(config, seed=1)
    draws_a = [a.row_failure(1, f"r{i}") for i in range(2000)]
    assert draws_a == [b.row_failure(1, f"r{i}") for i in range(2000)]
    failed = [d for d in draws_a if d is not None]
    assert 0.25 < len(failed) / 2000 < 0.35
    assert set(failed) == {429, 500}
    other = [FaultPolicy(config, seed=2).row_failure(1, f"r{i}") for i in range(2000)]
    assert other != draws_a
    # a retry of the same row in another batch gets a fresh draw
    assert [a.row_failure(2, f"r{i}") for i in range(2000)] != draws_a


def test_batch_fault_plans_follow_rates() -> None:
    policy = FaultPolicy(FaultConfig(stuck_validating_rate=1.0), seed=0)
    assert policy.plan_batch(1).stuck_validating
    policy = FaultPolicy(FaultConfig(expire_rate=1.0, expire_progress=0.25), seed=0)
    assert policy.plan_batch(5).stall_fraction == 0.25
    assert FaultPolicy(FaultConfig(), seed=0).plan_batch(1) == FaultPlan()


def test_api_fault_429_carries_retry_after_ms() -> None:
    policy = FaultPolicy(FaultConfig(api_error_rate=1, api_error_kinds=["429"]), seed=0)
    kind = policy.api_fault()
    assert kind == "429"
    err = policy.api_error(kind)
    assert err.status == 429
    assert err.headers["retry-after-ms"] == "10"


def _batch(**kw: object) -> Batch:
    base: dict[str, object] = {
        "id": "batch_x",
        "seq": 1,
        "dialect": "openai",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "file-x",
        "completion_window": "24h",
        "metadata": None,
        "output_expires_after_s": None,
        "created_at": 0,
        "expires_at": 86_400,
    }
    base.update(kw)
    return Batch(**base)  # type: ignore[arg-type]


def test_after_polls_releases_rows_in_step_with_polls() -> None:
    model = ProgressionModel(AfterPollsProgression(polls=4), FaultConfig())
    batch = _batch(status=Status.IN_PROGRESS, counts=RequestCounts(total=10))
    seen = []
    for polls in range(5):
        batch.polls_in_stage = polls
        seen.append(model.rows_allowed(batch, 0))
    assert seen == [0, 3, 5, 8, 10]
    batch.status = Status.VALIDATING
    batch.polls_in_stage = 3
    assert not model.stage_ready(batch, 0)
    batch.polls_in_stage = 4
    assert model.stage_ready(batch, 0)


def test_throughput_policy_uses_virtual_time_and_stalls() -> None:
    policy = ThroughputProgression(requests_per_s=2, queue_delay_s=10, validating_s=5)
    model = ProgressionModel(policy, FaultConfig(slow_finalizing_s=30))
    batch = _batch(stage_since=100.0)
    assert not model.stage_ready(batch, 114.9)
    assert model.stage_ready(batch, 115.0)
    assert model.next_deadline(batch, 100.0) == 115.0
    batch.status, batch.counts = Status.IN_PROGRESS, RequestCounts(total=100)
    assert model.rows_allowed(batch, 110.0) == 20
    batch.executed = 20
    assert model.next_deadline(batch, 110.0) == 110.5
    batch.faults = FaultPlan(stall_fraction=0.1)
    assert model.rows_allowed(batch, 1_000.0) == 10
    batch.status, batch.stage_since = Status.FINALIZING, 0.0
    assert not model.stage_ready(batch, 30.9)
    assert model.stage_ready(batch, 31.0)


def test_profiles_apply_beneath_explicit_values() -> None:
    realistic = EmulatorConfig(profile="realistic")
    assert realistic.progression.kind == "throughput"
    assert realistic.clock.scale == 60
    tuned = EmulatorConfig.model_validate({"profile": "realistic", "clock": {"scale": 5}})
    assert tuned.clock.scale == 5
    assert tuned.progression.kind == "throughput"
    patched = EmulatorConfig().merged({"faults": {"row_failure_rate": 0.5}})
    assert patched.faults.row_failure_rate == 0.5
    assert patched.progression.kind == "immediate"


def test_config_files_json_and_toml(tmp_path: object) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    (base / "c.toml").write_text('seed = 9\n[progression]\nkind = "after_polls"\npolls = 3\n')
    (base / "c.json").write_text('{"api_keys": ["sk-1"], "faults": {"expire_rate": 1}}')
    toml = EmulatorConfig.from_file(base / "c.toml")
    assert toml.seed == 9
    assert isinstance(toml.progression, AfterPollsProgression)
    js = EmulatorConfig.from_file(base / "c.json")
    assert js.api_keys[0].get_secret_value() == "sk-1"
    assert "sk-1" not in repr(js)
    assert "sk-1" not in str(js.public_dict())
    (base / "bad.json").write_text('{"port": "x"}')
    with pytest.raises(ValueError, match=r"bad\.json"):
        EmulatorConfig.from_file(base / "bad.json")
