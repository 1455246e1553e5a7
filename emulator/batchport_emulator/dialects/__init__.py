"""Dialects: how one provider's API looks on the wire.

The state model is shared; a dialect decides the URL prefix, how callers
authenticate, how errors are rendered, how files, batches and result lines are
serialized, and what an upload answers. Only the OpenAI dialect exists so far;
another (Azure, with ``/openai`` prefixes, ``api-key`` auth, result lines without
``id`` and files that go ``pending -> processed``) is a second implementation of
:class:`Dialect` plus a route prefix, with no change to the state model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from batchport_emulator.batches import Batch
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord


class Dialect(Protocol):
    name: str
    prefix: str
    upload_status: int

    def check_auth(self, headers: Mapping[str, str], accepted: Sequence[str]) -> None:
        """Raise :class:`ApiError` 401 unless the headers carry an accepted key.

        An empty ``accepted`` means any non-empty key is accepted.
        """

    def error_body(self, error: ApiError) -> dict[str, Any]: ...

    def file_object(self, record: FileRecord) -> dict[str, Any]: ...

    def batch_object(self, batch: Batch) -> dict[str, Any]: ...

    def result_line(
        self,
        *,
        line_id: str,
        custom_id: str,
        status_code: int,
        request_id: str,
        body: Mapping[str, Any],
    ) -> bytes:
        """One output or error file line for a row that ran, ending in ``\\n``."""

    def unrun_line(self, *, line_id: str, custom_id: str, code: str, message: str) -> bytes:
        """One error file line for a row that never ran (expired or cancelled)."""


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name``; raises ``KeyError`` for an unknown one."""
    from batchport_emulator.dialects.openai import OPENAI

    table: dict[str, Dialect] = {"openai": OPENAI}
    return table[name]
