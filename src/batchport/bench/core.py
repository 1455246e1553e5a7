"""``batchport bench``: one workload run three ways, compared.

:func:`run_bench` runs the modes one after another against a target and returns a
:class:`~batchport.bench.report.BenchReport`. Against the embedded emulator it runs on a
:class:`~batchport.bench.warp.WarpLoop`, so emulated hours pass in seconds while every
modelled wait is still taken in full on the emulator's virtual clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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

__all__ = ["MODES", "BenchSettings", "emulator_config", "run_bench", "run_bench_sync"]

MODES = ("batch", "sequential", "concurrent")


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """How to bench.

    Attributes:
        backend: ``"emulator"`` (embedded, ``profile``) or a provider backend name.
        profile: the emulator profile (``realistic`` models latency and rate limits).
        concurrency: workers in the concurrent mode.
        rpm / tpm: client-side limits for the realtime modes; None takes the emulator
            profile's limits (or none, for a provider).
        modes: which of ``batch``, ``sequential``, ``concurrent`` to run, in order.
        seed: seeds the emulator and the workload.
        dialect: the emulator's API the modes use: ``"openai"`` (Batch API and chat
            completions), ``"anthropic"`` (Message Batches and ``/v1/messages``) or
            ``"gemini"`` (batchGenerateContent and generateContent).
    """

    backend: str = "emulator"
    profile: str = "realistic"
    concurrency: int = 32
    rpm: int | None = None
    tpm: int | None = None
    modes: Sequence[str] = MODES
    seed: int = 0
    dialect: str = "openai"

    def __post_init__(self) -> None:
        if self.dialect not in ("openai", "anthropic", "gemini"):
            raise ConfigError(f"dialect must be openai, anthropic or gemini; got {self.dialect!r}")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ConfigError(f"modes must be among {', '.join(MODES)}; got {bad or 'none'}")
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")


def emulator_config(settings: BenchSettings, workload: Workload) -> dict[str, Any]:
    """The embedded emulator's config: the profile, its clock at real speed (the warp
    loop supplies the jumps), and fake answers of the workload's output length."""
    return {
        "profile": settings.profile,
        "seed": settings.seed,
        "clock": {"scale": 1.0},
        "responder": {"output_words": output_words_for(workload.output_tokens)},
    }


def _limits(settings: BenchSettings, config: dict[str, Any] | None) -> tuple[int | None, ...]:
    rpm, tpm = settings.rpm, settings.tpm
    if config is not None:
        from batchport_emulator.config import EmulatorConfig

        rt = EmulatorConfig.model_validate(config).realtime
        rpm = rpm if rpm is not None else rt.rpm
        tpm = tpm if tpm is not None else rt.tpm
    return rpm, tpm


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
    rpm, tpm = _limits(settings, config)
    results: dict[str, ModeResult] = {}
    for mode in settings.modes:
        if mode == "batch":
            result = await bench_batch(workload.requests, target)
        else:
            conc = 1 if mode == "sequential" else settings.concurrency
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
        assumptions=assumptions_of(config, rpm, tpm, settings.concurrency),
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
