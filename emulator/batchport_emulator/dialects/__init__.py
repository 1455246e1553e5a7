"""Dialects: how one provider's API looks on the wire.

The state model is shared; a dialect decides the URL prefix, how callers
authenticate, how errors are rendered, how files, batches and result lines are
serialized, and what an upload answers. Two exist: OpenAI (``/v1``) and Azure
(``/openai`` and ``/openai/v1``). What Azure does differently in *behaviour*
(deployments, enqueued-token quota, pending uploads, its validation codes) lives in
:mod:`batchport_emulator.azure`, consulted by the state model for Azure batches.
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
    #: publish a 0-byte error file when no row failed (Azure) instead of none (OpenAI)
    empty_error_file: bool

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
    from batchport_emulator.dialects.azure import AZURE
    from batchport_emulator.dialects.openai import OPENAI

    table: dict[str, Dialect] = {"openai": OPENAI, "azure": AZURE}
    return table[name]
