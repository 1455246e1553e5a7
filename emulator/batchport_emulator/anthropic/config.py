"""The ``anthropic`` section of the emulator config: limits and timing of the Message
Batches dialect (wire reference ``anthropic-batches.md`` sections 2.2, 3.1, 3.6)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MB = 1024 * 1024
DAY_S = 86_400


class AnthropicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    max_request_bytes: int = Field(default=256 * MB, ge=1)
    max_requests_per_batch: int = Field(default=100_000, ge=1)
    expires_after_s: float = Field(default=DAY_S, gt=0)
    results_retention_s: float = Field(default=29 * DAY_S, gt=0)
    api_versions: list[str] | None = Field(default=None, min_length=1)
