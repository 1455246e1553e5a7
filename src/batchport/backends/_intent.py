"""Adoption for providers whose jobs carry no tags (Anthropic, Gemini).

``submit`` records when it was about to create (:data:`CREATE_INTENT`, before the
remote call) and the job's id as soon as it has one; after a crash, ``find`` uses the
recorded id, or looks only at jobs created since the intent (less a skew allowance).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from batchport.backends.base import Backend, Checkpoint
from batchport.backends.models import Job, JobStatus
from batchport.errors import NotFoundError

__all__ = ["CREATE_INTENT", "intent_since", "record_intent", "recorded_job"]

#: checkpoint key: the wall-clock time a create was about to be sent
CREATE_INTENT = "create_intent"


def record_intent(checkpoint: Checkpoint) -> None:
    """Commit the intent to create, before the create is sent."""
    checkpoint.set(CREATE_INTENT, repr(time.time()))


async def recorded_job(backend: Backend, checkpoint: Mapping[str, str], key: str) -> Job | None:
    """The job whose id ``submit`` recorded under ``key``, as the provider has it now;
    None when none was recorded or the provider no longer has it."""
    known = checkpoint.get(key)
    if not known:
        return None
    try:
        return await backend.poll(Job(known, JobStatus.UNKNOWN))
    except NotFoundError:
        return None


def intent_since(checkpoint: Mapping[str, str], skew_s: float) -> float | None:
    """From when a job this shard created may date (the intent less ``skew_s``); None
    when no create was ever sent, so there is nothing to find."""
    intent = checkpoint.get(CREATE_INTENT)
    return float(intent) - skew_s if intent else None
