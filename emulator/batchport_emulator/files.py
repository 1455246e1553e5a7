"""The file store: uploads streamed to disk, batch output files, listing, expiry.

Contents always live on disk (a temporary directory, or ``--data-dir``);
only small metadata records stay in memory. With a data directory each
record is also written next to its content as JSON so a restart finds it.
Nothing here reads a whole file into memory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from batchport_emulator.clock import VirtualClock
from batchport_emulator.errors import ApiError, file_not_found
from batchport_emulator.ids import IdFactory
from batchport_emulator.pagination import Page, paginate
from batchport_emulator.storage import read_json, write_json_atomic

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
NOT_DOWNLOADABLE = frozenset({"assistants", "user_data"})
#: purposes the files endpoints show; others (an inline batch's requests and results)
#: are internal to the dialect that made them
SHOWN_PURPOSES = frozenset({*PURPOSES, "batch_output"})
BATCH_FILE_EXPIRY_S = 30 * 86_400


@dataclass(slots=True)
class FileRecord:
    """One stored file. ``created_at``/``expires_at`` are Unix seconds."""

    id: str
    seq: int
    dialect: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None
    status: str = "processed"
    status_details: str | None = None
    #: the credential that uploaded it, when API keys are configured (scopes access)
    principal: str | None = None


class UploadSink:
    """Receives an upload chunk by chunk; counts bytes and keeps the first line.

    Raises :class:`ApiError` 413 as soon as more than ``max_bytes`` arrive, so a
    runaway upload stops costing disk. ``abort()`` removes the partial file;
    :meth:`bind` makes the end of a task abort it unless :meth:`stored` was called.
    """

    FIRST_LINE_CAP = 1 << 20

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.size = 0
        self._head = bytearray()
        self._head_done = False
        self.committed = False
        self._task: asyncio.Task[Any] | None = None
        self._fh: IO[bytes] | None = open(path, "wb")  # noqa: SIM115 - closed in finish/abort

    def write(self, chunk: bytes) -> None:
        if self._fh is None:
            raise RuntimeError("upload already finished")
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.abort()
            raise ApiError(413, "File is too large.", code="file_too_large")
        if not self._head_done:
            self._head += chunk[: self.FIRST_LINE_CAP]
            self._head_done = b"\n" in self._head or len(self._head) >= self.FIRST_LINE_CAP
        self._fh.write(chunk)

    def first_line(self) -> bytes | None:
        """The first line, or ``None`` if it is longer than the inspection cap."""
        head = bytes(self._head)
        if b"\n" in head:
            return head.split(b"\n", 1)[0]
        return head if len(head) < self.FIRST_LINE_CAP else None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def bind(self, task: asyncio.Task[Any]) -> None:
        """Abort when ``task`` (the request's handler) ends before the upload is stored."""
        self._task = task
        task.add_done_callback(self._task_done)

    def _task_done(self, _task: asyncio.Task[Any]) -> None:
        self.abort()

    def _unbind(self) -> None:
        if self._task is not None:
            self._task.remove_done_callback(self._task_done)
            self._task = None
        self._head = bytearray()

    def stored(self) -> None:
        """The content was moved into the store: nothing is left to clean up."""
        self.committed = True
        self._unbind()

    def abort(self) -> None:
        """Close and remove the partial file, unless it was stored (safe to repeat)."""
        self.close()
        self._unbind()
        if not self.committed:
            self.path.unlink(missing_ok=True)


class FileStore:
    """Files of every dialect; ids are unique across dialects."""

    def __init__(self, root: Path, ids: IdFactory, clock: VirtualClock, *, persist: bool) -> None:
        self.root = root
        self._ids = ids
        self._clock = clock
        self._persist = persist
        self._files: dict[str, FileRecord] = {}
        # Positions of deleted files, so a pagination cursor that points at one still works.
        self._tombstones: dict[str, int] = {}
        self._seq = 0
        self._uploads = 0
        root.mkdir(parents=True, exist_ok=True)
        if persist:
            self._load()

    # -- paths and persistence -------------------------------------------------

    def content_path(self, file_id: str) -> Path:
        return self.root / f"{file_id}.data"

    def _meta_path(self, file_id: str) -> Path:
        return self.root / f"{file_id}.json"

    def _save(self, record: FileRecord) -> None:
        if self._persist:
            write_json_atomic(self._meta_path(record.id), asdict(record))

    def _load(self) -> None:
        """Read the records back; a deleted file (or one whose content is gone) leaves
        its position, so cursors naming it keep working. Abandoned uploads are removed."""
        for part in self.root.glob("upload-*.part"):
            part.unlink(missing_ok=True)
        for meta in sorted(self.root.glob("*.json")):
            data: dict[str, Any] = read_json(meta)
            self._seq = max(self._seq, int(data["seq"]))
            if data.get("deleted") or not self.content_path(data["id"]).exists():
                self._tombstones[data["id"]] = int(data["seq"])
            else:
                self._files[data["id"]] = FileRecord(**data)

    # -- creating ----------------------------------------------------------------

    def begin_upload(self, max_bytes: int) -> UploadSink:
        self._uploads += 1
        return UploadSink(self.root / f"upload-{os.getpid()}-{self._uploads}.part", max_bytes)

    def _new_id(self, make_id: Callable[[], str] | None) -> str:
        make = make_id or self._ids.file_id
        file_id = make()
        while file_id in self._files or file_id in self._tombstones:
            file_id = make()
        return file_id

    def commit(
        self,
        temp_path: Path,
        *,
        filename: str,
        purpose: str,
        dialect: str,
        expires_after_s: int | None,
        status: str = "processed",
        default_expiry: bool = True,
        make_id: Callable[[], str] | None = None,
        principal: str | None = None,
        status_details: str | None = None,
    ) -> FileRecord:
        """Adopt a finished temporary file as a new stored file and return its record.

        Batch files without ``expires_after_s`` expire after 30 days unless
        ``default_expiry`` is false (Azure keeps them until deleted). ``make_id`` makes
        the id (OpenAI's form when not given).
        """
        now = int(self._clock.now())
        file_id = self._new_id(make_id)
        os.replace(temp_path, self.content_path(file_id))
        if expires_after_s is None and purpose == "batch" and default_expiry:
            expires_after_s = BATCH_FILE_EXPIRY_S
        self._seq += 1
        record = FileRecord(
            id=file_id,
            seq=self._seq,
            dialect=dialect,
            filename=filename,
            purpose=purpose,
            bytes=self.content_path(file_id).stat().st_size,
            created_at=now,
            expires_at=None if expires_after_s is None else now + expires_after_s,
            status=status,
            status_details=status_details,
            principal=principal,
        )
        self._files[file_id] = record
        self._save(record)
        return record

    def set_status(self, file_id: str, status: str) -> None:
        """Change a stored file's ``status`` (Azure uploads go ``pending -> processed``)."""
        record = self._files[file_id]
        record.status = status
        self._save(record)

    def scratch_path(self, name: str) -> Path:
        """A path for a work file (batch output being written) inside the store."""
        return self.root / f"{name}.part"

    # -- reading -----------------------------------------------------------------

    def _alive(self, record: FileRecord) -> bool:
        # Expired files behave as deleted; they are swept lazily, not by a getter.
        return record.expires_at is None or record.expires_at > self._clock.now()

    def find(self, file_id: str) -> FileRecord | None:
        record = self._files.get(file_id)
        return record if record is not None and self._alive(record) else None

    def get(self, file_id: str) -> FileRecord:
        """The record; raises :class:`ApiError` 404 for unknown, deleted or expired ids."""
        record = self.find(file_id)
        if record is None:
            raise file_not_found(file_id)
        return record

    def downloadable_path(self, file_id: str) -> Path:
        record = self.get(file_id)
        if record.purpose in NOT_DOWNLOADABLE:
            raise ApiError(400, f"Not allowed to download files of purpose: {record.purpose}")
        return self.content_path(file_id)

    def list_files(
        self,
        *,
        after: str | None,
        limit: int,
        descending: bool,
        purpose: str | None,
        visible: Callable[[FileRecord], bool] | None = None,
    ) -> Page[FileRecord]:
        records = [r for r in self._files.values() if self._alive(r)]
        if purpose:
            records = [r for r in records if r.purpose == purpose]
        if visible is not None:
            records = [r for r in records if visible(r)]
        records.sort(key=lambda r: r.seq)
        return paginate(
            records,
            after=after,
            limit=limit,
            position_of=self._position_of,
            position=lambda r: r.seq,
            descending=descending,
        )

    def _position_of(self, file_id: str) -> int | None:
        record = self._files.get(file_id)
        return record.seq if record is not None else self._tombstones.get(file_id)

    def all(self) -> list[FileRecord]:
        return sorted(self._files.values(), key=lambda r: r.seq)

    def live(self, *, purpose: str, dialect: str) -> list[FileRecord]:
        """Unexpired files of one purpose uploaded through one dialect (for its quotas)."""
        return [
            r
            for r in self._files.values()
            if r.purpose == purpose and r.dialect == dialect and self._alive(r)
        ]

    # -- deleting ----------------------------------------------------------------

    def delete(self, file_id: str) -> FileRecord:
        record = self.get(file_id)
        del self._files[file_id]
        self._tombstones[file_id] = record.seq
        if self._persist:  # the record stays as a tombstone: its position outlives it
            tombstone = {"id": file_id, "seq": record.seq, "deleted": True}
            write_json_atomic(self._meta_path(file_id), tombstone)
        self.content_path(file_id).unlink(missing_ok=True)
        return record

    def clear(self) -> None:
        """Forget every file and remove all content from disk."""
        self._files.clear()
        self._tombstones.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
