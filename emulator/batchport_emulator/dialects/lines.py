"""Result lines: one writer for every dialect, shaped by what the dialects differ in.

A result line is written for each row that ran (output or error file) and for each
row that never ran (expired or cancelled, error file only). The dialects agree on the
content and differ only in form: OpenAI's lines carry a top-level ``id`` and order the
``response`` keys ``status_code, request_id, body``; Azure's have no ``id`` and order
them ``body, request_id, status_code`` (as their real files do). Anthropic's lines are
another shape altogether (:class:`~batchport_emulator.anthropic.wire.MessageBatchLines`);
every form is a :class:`LineWriter`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

ResponseKey = str  # "status_code", "request_id" or "body"


class LineWriter(Protocol):
    """What the processor needs of a result-line form."""

    @property
    def one_file(self) -> bool:
        """Every line goes to the output file (in run order), none to an error file."""
        ...

    def ran(
        self,
        *,
        line_id: str,
        custom_id: str,
        status_code: int,
        request_id: str,
        body: Mapping[str, Any],
    ) -> bytes:
        """The line of a row that ran, ending in a newline."""
        ...

    def unrun(self, *, line_id: str, custom_id: str, code: str, message: str) -> bytes:
        """The line of a row a cancel (``batch_cancelled``) or expiry (``batch_expired``)
        stopped."""
        ...


@dataclass(frozen=True, slots=True)
class ResultLines:
    """The result-line form of one dialect.

    ``with_id``: whether each line starts with the ``batch_req_...`` id it is given;
    ``response_order``: the order of the three ``response`` keys.
    """

    with_id: bool = True
    one_file: bool = False
    response_order: tuple[ResponseKey, ResponseKey, ResponseKey] = (
        "status_code",
        "request_id",
        "body",
    )

    def ran(
        self,
        *,
        line_id: str,
        custom_id: str,
        status_code: int,
        request_id: str,
        body: Mapping[str, Any],
    ) -> bytes:
        """The line of a row that ran (any status), ending in ``\\n``; ``error`` is null."""
        values = {"status_code": status_code, "request_id": request_id, "body": body}
        response = {key: values[key] for key in self.response_order}
        return self._line(line_id, custom_id, response, None)

    def unrun(self, *, line_id: str, custom_id: str, code: str, message: str) -> bytes:
        """The error-file line of a row that never ran; ``response`` is null."""
        return self._line(line_id, custom_id, None, {"code": code, "message": message})

    def _line(
        self,
        line_id: str,
        custom_id: str,
        response: dict[str, Any] | None,
        error: dict[str, str] | None,
    ) -> bytes:
        head = {"id": line_id} if self.with_id else {}
        return orjson.dumps(
            {**head, "custom_id": custom_id, "response": response, "error": error},
            option=orjson.OPT_APPEND_NEWLINE,
        )
