"""The ``gemini`` section of the emulator config: limits and timing of the Gemini Batch
dialect (wire reference ``gemini-and-others.md`` sections 2.3 and 2.5)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MB = 1024 * 1024
HOUR_S = 3_600


class GeminiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    max_inline_bytes: int = Field(default=20 * MB, ge=1)
    max_file_bytes: int = Field(default=2048 * MB, ge=1)
    max_requests_per_batch: int | None = Field(default=None, ge=1)
    expires_after_s: float = Field(default=48 * HOUR_S, gt=0)
    file_ttl_s: int = Field(default=48 * HOUR_S, ge=1)
    page_size: int = Field(default=50, ge=1)
