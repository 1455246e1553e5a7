"""``batchport bench``: one workload run three ways, compared.

:func:`run_bench` runs the modes one after another against a target and returns a
:class:`~batchport.bench.report.BenchReport`. Against the embedded emulator it runs on a
:class:`~batchport.bench.warp.WarpLoop`, so emulated hours pass in seconds while every
modelled wait is still taken in full on the emulator's virtual clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from batchport.bench.facts import DEFAULTS, TIERS
from batchport.bench.model import RealtimeRate, realtime_rate
from batchport.bench.modes import (
    EmulatorTarget,
    ModeResult,
    ProviderTarget,
    Target,
    bench_batch,
    bench_realtime,
)
from batchport.bench.report import BenchReport, assumptions_of
from batchport.bench.warp import new_warp_loop
from batchport.bench.workload import Workload, output_words_for
from batchport.errors import ConfigError
from batchport.realtime import RealtimeOptions
from batchport.runner.options import RunOptions
from batchport.runner.policy import PollPolicy
from batchport.tokens import estimate_input_tokens, estimate_output_tokens

__all__ = [
    "MAX_AUTO_WORKERS",
    "MODES",
    "BenchSettings",
    "emulator_config",
    "request_tokens",
    "run_bench",
    "run_bench_sync",
]

MODES = ("batch", "sequential", "concurrent", "deadline")
#: what a bench runs unless told otherwise (``deadline`` needs a deadline)
DEFAULT_MODES = ("batch", "sequential", "concurrent")


DAY_S = 86_400.0
#: the most workers ``concurrency="auto"`` starts (the openai SDK's connection pool)
MAX_AUTO_WORKERS = 1000


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """How to bench.

    Attributes:
        backend: ``"emulator"`` (embedded, ``profile``) or a provider backend name.
        profile: the emulator profile: ``realistic`` models the trade-off (shared batch
            capacity, tier limits, latency with a tail, errors); ``instant`` models
            nothing and only checks that every mode works.
        concurrency: workers in the concurrent mode, or ``"auto"``: enough to reach the
            tier's limit at the mean latency (at most :data:`MAX_AUTO_WORKERS`).
        tier: the OpenAI usage tier (1-5) whose gpt-4o-mini limits apply on both sides:
            the emulator's realtime endpoints and the client (:data:`~.facts.TIERS`).
        rpm / tpm: override the tier's limits (both sides).
        modes: which of ``batch``, ``sequential``, ``concurrent`` (and ``deadline``) to
            run, in order.
        seed: seeds the emulator and the workload.
        dialect: the emulator's API the modes use: ``"openai"``, ``"anthropic"`` or
            ``"gemini"``.
        error_rate: share of realtime calls answered 429/500/503 (then retried).
        latency_sigma: the lognormal spread of realtime latency.
        batch_rows_per_s: the account's batch capacity, shared by all its batches.
        batch_queue_s: seconds a batch waits before its rows start.
        poll_interval_s / poll_max_interval_s: the runner's poll interval, growing 1.5x
            while nothing changes (the runner's defaults, as against a real provider).
        deadline_s: the ``deadline`` mode's deadline, seconds after its start: a batch
            whose slow shards fall back to realtime (the concurrent mode's workers and
            the tier's limits) so it ends in time.
    """

    backend: str = "emulator"
    profile: str = "realistic"
    concurrency: int | str = 32
    rpm: int | None = None
    tpm: int | None = None
    modes: Sequence[str] = DEFAULT_MODES
    seed: int = 0
    dialect: str = "openai"
    tier: int = 1
    error_rate: float = DEFAULTS["error_rate"].value
    latency_sigma: float = DEFAULTS["latency_sigma"].value
    batch_rows_per_s: float = DEFAULTS["batch_rows_per_s"].value
    batch_queue_s: float = DEFAULTS["batch_queue_s"].value
    poll_interval_s: float = 5.0
    poll_max_interval_s: float = 60.0
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if self.dialect not in ("openai", "anthropic", "gemini"):
            raise ConfigError(f"dialect must be openai, anthropic or gemini; got {self.dialect!r}")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ConfigError(f"modes must be among {', '.join(MODES)}; got {bad or 'none'}")
        if self.concurrency != "auto" and (
            not isinstance(self.concurrency, int) or self.concurrency < 1
        ):
            raise ConfigError("concurrency must be at least 1, or auto")
        if self.tier not in TIERS:
            raise ConfigError(f"tier must be one of {', '.join(map(str, TIERS))}; got {self.tier}")
        if not 0 <= self.error_rate < 1:
            raise ConfigError("error rate must be at least 0 and below 1")
        if self.batch_rows_per_s <= 0 or self.batch_queue_s < 0 or self.latency_sigma < 0:
            raise ConfigError("batch throughput must be positive; queue and sigma not negative")
        if "deadline" in self.modes and (self.deadline_s is None or self.deadline_s <= 0):
            raise ConfigError("the deadline mode needs a deadline (--deadline 2h)")
        if not 0 < self.poll_interval_s <= self.poll_max_interval_s:
            raise ConfigError("poll interval must be positive and at most the max interval")

    @property
    def modelled(self) -> bool:
        """Whether the emulator models the trade-off (the ``realistic`` profile)."""
        return self.backend == "emulator" and self.profile == "realistic"

    def limits(self) -> tuple[int | None, int | None]:
        """(RPM, TPM) on both sides: the tier's, unless overridden; none for ``instant``."""
        if self.backend == "emulator" and not self.modelled:
            return self.rpm, self.tpm
        tier = TIERS[self.tier]
        return self.rpm or tier.rpm, self.tpm or tier.tpm

    def poll_policy(self) -> PollPolicy:
        # a stall is only reported (never acted on) and the window is a day: wait it out
        return PollPolicy(
            interval=self.poll_interval_s,
            max_interval=self.poll_max_interval_s,
            factor=1.5,
            stall_timeout=DAY_S,
        )

    def mean_latency_s(self, output_tokens: int) -> float:
        return (
            DEFAULTS["latency_base_s"].value
            + DEFAULTS["latency_per_output_token_s"].value * output_tokens
        )

    def workers(self, workload: Workload) -> int:
        """The workers of the concurrent mode (``auto`` resolved for the tier)."""
        if isinstance(self.concurrency, int):
            return self.concurrency
        rpm, tpm = self.limits()
        latency = self.mean_latency_s(workload.output_tokens)
        rate = realtime_rate(MAX_AUTO_WORKERS, latency, rpm, tpm, request_tokens(workload))
        return max(1, min(MAX_AUTO_WORKERS, rate.workers_to_saturate))

    def realtime_rate(self, workload: Workload, tier: int | None = None) -> RealtimeRate:
        """How fast the concurrent mode can go (at ``tier``, default this one's)."""
        s = self if tier is None else replace(self, tier=tier)
        rpm, tpm = s.limits()
        latency = s.mean_latency_s(workload.output_tokens)
        return realtime_rate(s.workers(workload), latency, rpm, tpm, request_tokens(workload))

    def batch_overhead_s(self) -> float:
        """Fixed batch time besides the rows: queue, validating, finalizing, and half the
        longest poll interval of lag on average."""
        return (
            self.batch_queue_s
            + DEFAULTS["batch_validating_s"].value
            + DEFAULTS["batch_finalizing_s"].value
            + self.poll_max_interval_s / 2
        )


def request_tokens(workload: Workload) -> int:
    """Tokens one request counts against TPM (prompt estimate plus its max_tokens)."""
    req = workload.requests[0]
    return estimate_input_tokens(req.body, req.url) + estimate_output_tokens(req.body, req.url)


def emulator_config(settings: BenchSettings, workload: Workload) -> dict[str, Any]:
    """The embedded emulator's config: the profile, its clock at real speed (the warp
    loop supplies the jumps), fake answers of the workload's output length, and for
    ``realistic`` the bench's model (shared batch capacity, tier limits, lognormal
    latency, injected errors)."""
    config: dict[str, Any] = {
        "profile": settings.profile,
        "seed": settings.seed,
        "clock": {"scale": 1.0},
        "responder": {"output_words": output_words_for(workload.output_tokens)},
    }
    rpm, tpm = settings.limits()
    if not settings.modelled:
        config["realtime"] = {"rpm": rpm, "tpm": tpm}
        return config
    d = {k: f.value for k, f in DEFAULTS.items()}
    config["progression"] = {
        "kind": "throughput",
        "scope": "account",
        "requests_per_s": settings.batch_rows_per_s,
        "queue_delay_s": settings.batch_queue_s,
        "validating_s": d["batch_validating_s"],
        "finalizing_s": d["batch_finalizing_s"],
        "cancelling_s": 60.0,
    }
    config["realtime"] = {
        "rpm": rpm,
        "tpm": tpm,
        "latency_base_s": d["latency_base_s"],
        "latency_per_output_token_s": d["latency_per_output_token_s"],
        "latency_distribution": "lognormal",
        "latency_sigma": settings.latency_sigma,
        "error_rate": settings.error_rate,
        "error_retry_after_s": 1.0,
    }
    return config


async def run_bench(
    workload: Workload,
    settings: BenchSettings,
    *,
    on_mode: Callable[[ModeResult], None] | None = None,
) -> BenchReport:
    """Run ``workload`` in every mode of ``settings`` and return the report.

    ``on_mode`` is called with each mode's result as soon as it is done.
    """
    config = emulator_config(settings, workload) if settings.backend == "emulator" else None
    target: Target = (
        EmulatorTarget(config, settings.dialect)
        if config is not None
        else ProviderTarget(settings.backend)
    )
    rpm, tpm = settings.limits()
    workers = settings.workers(workload)
    results: dict[str, ModeResult] = {}
    for mode in settings.modes:
        if mode == "batch":
            options = RunOptions(poll=settings.poll_policy())
            result = await bench_batch(workload.requests, target, options)
        elif mode == "deadline":
            options = RunOptions(
                poll=settings.poll_policy(),
                realtime_rpm=rpm,
                realtime_tpm=tpm,
                realtime_concurrency=workers,
            )
            result = await bench_batch(
                workload.requests, target, options, deadline_s=settings.deadline_s
            )
        else:
            conc = 1 if mode == "sequential" else workers
            opts = RealtimeOptions(concurrency=conc, rpm=rpm, tpm=tpm, seed=settings.seed)
            result = await bench_realtime(workload.requests, target, opts, mode)
        results[mode] = result
        if on_mode is not None:
            on_mode(result)
    loop = asyncio.get_running_loop()
    return BenchReport(
        workload=workload,
        settings=settings,
        modes=results,
        assumptions=assumptions_of(config, rpm, tpm, workers),
        warped=hasattr(loop, "jumped_s"),
    )


def run_bench_sync(
    workload: Workload,
    settings: BenchSettings,
    *,
    on_mode: Callable[[ModeResult], None] | None = None,
) -> BenchReport:
    """:func:`run_bench` in a fresh event loop: a warp loop for the emulator, a plain one
    for a real provider (whose time cannot be skipped)."""
    factory = new_warp_loop if settings.backend == "emulator" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(run_bench(workload, settings, on_mode=on_mode))
