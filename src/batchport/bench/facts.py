"""What the bench's emulated numbers rest on: published limits, promises and assumptions.

Every default the bench models is here with where it comes from, so the report can
print it next to the figures. ``source`` names a published page; an ``assumption``
says why the value was chosen when nothing is published.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BATCH_PROMISES",
    "DEFAULTS",
    "TIERS",
    "TIER_SOURCE",
    "Fact",
    "Tier",
]


@dataclass(frozen=True, slots=True)
class Tier:
    """One OpenAI usage tier's limits for gpt-4o-mini (requests and tokens per minute;
    ``batch_queue_tokens``: enqueued prompt tokens across unfinished batches)."""

    number: int
    rpm: int
    tpm: int
    batch_queue_tokens: int


#: OpenAI's published limits for gpt-4o-mini by usage tier.
TIERS: dict[int, Tier] = {
    1: Tier(1, 500, 200_000, 2_000_000),
    2: Tier(2, 5_000, 2_000_000, 20_000_000),
    3: Tier(3, 5_000, 4_000_000, 40_000_000),
    4: Tier(4, 10_000, 10_000_000, 1_000_000_000),
    5: Tier(5, 30_000, 150_000_000, 15_000_000_000),
}
TIER_SOURCE = (
    "OpenAI's gpt-4o-mini model page, rate limits by usage tier "
    "(https://platform.openai.com/docs/models/gpt-4o-mini), as quoted in full at "
    "https://community.openai.com/t/1269349 (2025); limits differ by model and change "
    "over time: check your account's limits page, and pass --rpm/--tpm for other models"
)


@dataclass(frozen=True, slots=True)
class Fact:
    """A modelled value, its unit, and its basis (``source`` or ``assumption``)."""

    value: float
    unit: str
    basis: str
    assumption: bool


DEFAULTS: dict[str, Fact] = {
    "batch_rows_per_s": Fact(
        10.0,
        "rows/s for the whole account",
        "no provider publishes a batch throughput. Chosen so a full 50,000-row batch "
        "takes about 1.4 h: Anthropic says most batches finish in under an hour, and "
        "users report OpenAI batches taking minutes to hours",
        True,
    ),
    "batch_queue_s": Fact(
        300.0,
        "s before a batch's first row runs",
        "observed waits range from about 1 minute (a 2-request OpenAI batch, 66 s end "
        "to end) through 2-11 minutes (user reports) to over 30 minutes (a one-request "
        "Anthropic batch); 5 minutes is a middle value",
        True,
    ),
    "batch_validating_s": Fact(5.0, "s validating", "short in every observation", True),
    "batch_finalizing_s": Fact(
        30.0, "s finalizing", "writing the result files; about 1 s observed for 2 rows", True
    ),
    "latency_base_s": Fact(
        0.4, "s to first token", "typical time to first token of a small model", True
    ),
    "latency_per_output_token_s": Fact(
        0.01,
        "s per output token",
        "100 output tokens/s, about what gpt-4o-mini streams at",
        True,
    ),
    "latency_sigma": Fact(
        0.4,
        "lognormal sigma",
        "a long tail: p99 about 2.5x the median, as busy-hour latencies show",
        True,
    ),
    "error_rate": Fact(
        0.01,
        "share of realtime calls",
        "1% of calls answered 429, 500 or 503 and retried: a stated, changeable rate, "
        "not a measured one",
        True,
    ),
}

#: What each provider promises about batch completion time (the only promise made).
BATCH_PROMISES: dict[str, str] = {
    "openai": "OpenAI: results within the 24 h completion window; unfinished rows then "
    "expire (no throughput is promised)",
    "azure": "Azure OpenAI global batch: aims for 24 h, and keeps running jobs that take "
    "longer instead of expiring them",
    "anthropic": "Anthropic: within 24 h ('most batches finish in less than 1 hour'); "
    "unfinished requests then expire",
    "gemini": "Gemini: a 24 h target; jobs running or pending over 48 h expire with no results",
}
