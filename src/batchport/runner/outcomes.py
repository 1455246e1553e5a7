"""Row outcomes. Every input row ends in exactly one :class:`Outcome`; a row that was
resubmitted (``attempts > 1``) and then settled is still one row with one outcome.

Which outcome a provider's answer means is each backend's business (its result
parser); the runner only reads the verdict.
"""

from __future__ import annotations

from batchport.backends.models import Outcome

__all__ = ["Outcome"]
