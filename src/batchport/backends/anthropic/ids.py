"""Provider-safe custom_ids for Anthropic, which allows only ``^[a-zA-Z0-9_-]{1,64}$``.

A caller's id that fits is sent as it is. One that does not (dots, colons, braces, more
than 64 characters), and one that starts with the reserved mark ``_bp-``, is sent as
``_bp-<shard tag>-<position>``: the tag is a digest of the run and shard ids, the
position the request's 1-based line in the shard. So a mapped id never collides with a
kept one, never repeats inside a run, and says which shard it belongs to; the runner
maps each result back through the shard's ledger. Nothing about the mapping is stored:
it is a function of the run, the shard and the request's place in it.
"""

from __future__ import annotations

import base64
import hashlib
import re

__all__ = ["MARK", "PATTERN", "fits", "shard_tag", "wire_id"]

PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MARK = "_bp-"


def fits(custom_id: str) -> bool:
    """Whether Anthropic accepts ``custom_id`` as it is."""
    return PATTERN.fullmatch(custom_id) is not None


def shard_tag(run_id: str, shard_id: str) -> str:
    """Ten lowercase base32 characters naming a shard of a run."""
    digest = hashlib.sha256(f"{run_id}/{shard_id}".encode()).digest()
    return base64.b32encode(digest).decode()[:10].lower()


def wire_id(tag: str, custom_id: str, pos: int) -> str:
    """The id Anthropic sees for the request at ``pos`` of the shard tagged ``tag``."""
    if fits(custom_id) and not custom_id.startswith(MARK):
        return custom_id
    return f"{MARK}{tag}-{pos}"
