"""Identifiers shaped like the real service's.

``file-`` + 22 base62 characters; ``batch_``, ``batch_req_`` and ``req_`` + 32 hex
digits (see the wire reference, section 8). Azure's forms are here too: ``batch_`` +
a UUID, uploads ``file-`` + 32 hex digits, batch outputs ``file-`` + a UUID; Anthropic's
are base58 (:meth:`IdFactory.base58`). A seed
makes the sequence repeatable, which tests use to compare runs; without one the
generator is seeded from the operating system.
"""

from __future__ import annotations

import random
import uuid

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class IdFactory:
    """Makes ids; not thread-safe (the emulator uses it from one event loop)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def _hex(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def file_id(self) -> str:
        choice = self._rng.choice
        return "file-" + "".join(choice(_BASE62) for _ in range(22))

    def batch_id(self) -> str:
        return "batch_" + self._hex()

    def uuid(self) -> str:
        """A random (version 4) UUID with dashes."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def hex_file_id(self) -> str:
        """``file-`` + 32 hex digits (Azure's uploads)."""
        return "file-" + self._hex()

    def uuid_file_id(self) -> str:
        """``file-`` + a UUID (Azure's batch output and error files)."""
        return "file-" + self.uuid()

    def uuid_batch_id(self) -> str:
        """``batch_`` + a UUID (Azure's batches)."""
        return "batch_" + self.uuid()

    def batch_request_id(self) -> str:
        """The ``id`` of one line in a batch output or error file."""
        return "batch_req_" + self._hex()

    def base58(self, length: int) -> str:
        """``length`` base58 characters (Anthropic's ids: ``msgbatch_01...``, ``req_011C...``)."""
        choice = self._rng.choice
        return "".join(choice(_BASE58) for _ in range(length))

    def request_id(self) -> str:
        """An ``x-request-id`` value (and a result line's ``response.request_id``)."""
        return "req_" + self._hex()

    def base36(self, length: int) -> str:
        """``length`` lowercase letters and digits (Gemini's ``batches/...`` and ``files/...``)."""
        choice = self._rng.choice
        return "".join(choice(_BASE36) for _ in range(length))
