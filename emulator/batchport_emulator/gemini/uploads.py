"""Resumable upload sessions of Gemini's Files API (wire reference section 2.1).

``start`` opens a session (an :class:`UploadSink` on disk and a running SHA-256);
each ``upload`` request appends its bytes at the session's offset; ``finalize`` stores
the file. A session outlives the request that opened it, so it owns its sink and
aborts it when cancelled, replaced (beyond :data:`MAX_SESSIONS` open ones) or reset.
"""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from batchport_emulator.files import UploadSink

MAX_SESSIONS = 256


@dataclass(slots=True)
class UploadSession:
    """One resumable upload in progress."""

    sink: UploadSink
    mime_type: str
    display_name: str | None
    declared_size: int | None
    principal: str | None
    digest: Any = field(default_factory=hashlib.sha256)

    def write(self, chunk: bytes) -> None:
        self.sink.write(chunk)
        self.digest.update(chunk)

    def sha256(self) -> str:
        """The digest as the Files API shows it: base64 of the hex digest."""
        return base64.b64encode(self.digest.hexdigest().encode()).decode()


class UploadSessions:
    """Open sessions by upload id; the oldest is dropped past :data:`MAX_SESSIONS`."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, UploadSession] = OrderedDict()

    def add(self, upload_id: str, session: UploadSession) -> None:
        self._open[upload_id] = session
        while len(self._open) > MAX_SESSIONS:
            _, dropped = self._open.popitem(last=False)
            dropped.sink.abort()

    def get(self, upload_id: str) -> UploadSession | None:
        return self._open.get(upload_id)

    def close(self, upload_id: str, *, abort: bool) -> None:
        """Forget a session; ``abort`` removes its partial file too."""
        session = self._open.pop(upload_id, None)
        if session is not None and abort:
            session.sink.abort()

    def clear(self) -> None:
        for session in self._open.values():
            session.sink.abort()
        self._open.clear()
