"""Files endpoints: upload (streamed multipart), list, retrieve, content, delete.

An upload must keep arriving: it fails with 408 when no byte comes for
``read_timeout_s``, or when it falls behind :data:`MIN_UPLOAD_RATE` after that much
grace (a trickling client cannot hold a handler and a partial file forever).
"""

from __future__ import annotations

import asyncio

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from batchport_emulator.app.helpers import (
    dialect_of,
    json_response,
    list_body,
    principal_of,
    state_of,
)
from batchport_emulator.batch_params import parse_expiry_seconds
from batchport_emulator.errors import ApiError, invalid_value, request_timeout
from batchport_emulator.files import UploadSink
from batchport_emulator.pagination import parse_limit, parse_order

CHUNK = 1 << 18
FIELD_MAX = 4096  # text fields are short; a huge one is garbage, not a purpose
MIN_UPLOAD_RATE = 16 * 1024  # bytes/s: each byte buys this much more time


class _Pace:
    """The deadline of an upload: ``timeout_s`` of grace, extended by every chunk (at
    :data:`MIN_UPLOAD_RATE`), never more than ``timeout_s`` past the last chunk."""

    def __init__(self, timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout_s
        self._budget = self._loop.time() + timeout_s
        self.deadline = asyncio.timeout_at(self._budget)

    def received(self, size: int) -> None:
        self._budget += size / MIN_UPLOAD_RATE
        self.deadline.reschedule(min(self._budget, self._loop.time() + self._timeout))


class _Upload:
    """What a multipart body said, gathered part by part."""

    def __init__(self, pace: _Pace) -> None:
        self.fields: dict[str, str] = {}
        self.sink: UploadSink | None = None
        self.filename: str | None = None
        self.pace = pace


async def _read_field(part: BodyPartReader, pace: _Pace) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(FIELD_MAX):
        pace.received(len(chunk))
        data += chunk
        if len(data) > FIELD_MAX:
            raise ApiError(
                400,
                f"Invalid value for '{(part.name or '')[:64]}': too long.",
                param=part.name,
                code="invalid_value",
            )
    return data.decode("utf-8", "replace")


async def _read_parts(request: web.Request, upload: _Upload) -> None:
    state = state_of(request)
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "Nested multipart bodies are not supported.")
        if part.name == "file":
            if upload.sink is not None:
                raise ApiError(400, "Only one 'file' part is allowed.", param="file")
            upload.sink = state.begin_upload()
            upload.filename = part.filename or "upload"
            while chunk := await part.read_chunk(CHUNK):
                upload.pace.received(len(chunk))
                upload.sink.write(chunk)
        elif part.name:
            upload.fields[part.name] = await _read_field(part, upload.pace)


def _expires_after(fields: dict[str, str]) -> int | None:
    anchor = fields.get("expires_after[anchor]", fields.get("expires_after.anchor"))
    seconds = fields.get("expires_after[seconds]", fields.get("expires_after.seconds"))
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise invalid_value("expires_after.anchor", (anchor or "")[:64], ["created_at"])
    return parse_expiry_seconds(seconds, "expires_after.seconds")


async def upload_file(request: web.Request) -> web.Response:
    state, dialect = state_of(request), dialect_of(request)
    limit = state.config.limits.file_max_bytes
    if request.content_length is not None and request.content_length > limit + (1 << 20):
        raise ApiError(413, "File is too large.", code="file_too_large")
    if request.content_type != "multipart/form-data":
        raise ApiError(400, "Invalid Content-Type header: expected multipart/form-data.")
    upload = _Upload(_Pace(state.config.read_timeout_s))
    try:
        async with upload.pace.deadline:
            await _read_parts(request, upload)
        sink = upload.sink or state.begin_upload()
        expires = _expires_after(upload.fields)
    except (
        ApiError,
        ValueError,
        AssertionError,
        RuntimeError,
        HttpProcessingError,
        TimeoutError,
    ) as exc:
        if upload.sink is not None:
            upload.sink.abort()
        if isinstance(exc, ApiError):
            raise
        if isinstance(exc, TimeoutError):
            raise request_timeout() from None
        # aiohttp's messages quote the raw bytes; say what was wrong, not how it failed
        raise ApiError(400, "Could not parse the multipart body.", code="bad_request") from exc
    record = state.finish_upload(
        sink,
        filename=upload.filename,
        purpose=upload.fields.get("purpose"),
        expires_after_s=expires,
        dialect=dialect,
        principal=principal_of(request),
    )
    return json_response(dialect.file_object(record), status=dialect.upload_status)


async def list_files(request: web.Request) -> web.Response:
    state, dialect = state_of(request), dialect_of(request)
    query = request.query
    limit = parse_limit(query, default=10_000, maximum=10_000)
    page = state.list_files(
        dialect,
        after=query.get("after") or None,
        limit=limit,
        descending=parse_order(query) == "desc",
        purpose=query.get("purpose") or None,
        principal=principal_of(request),
    )
    items = [dialect.file_object(r) for r in page.items]
    return json_response(list_body(items, page.has_more))


async def retrieve_file(request: web.Request) -> web.Response:
    dialect = dialect_of(request)
    record = state_of(request).poll_file(
        request.match_info["file_id"], dialect, principal=principal_of(request)
    )
    return json_response(dialect.file_object(record))


async def delete_file(request: web.Request) -> web.Response:
    record = state_of(request).delete_file(
        request.match_info["file_id"], principal=principal_of(request)
    )
    return json_response({"id": record.id, "object": "file", "deleted": True})


async def file_content(request: web.Request) -> web.FileResponse:
    path = state_of(request).file_content_path(
        request.match_info["file_id"], principal=principal_of(request)
    )
    return web.FileResponse(
        path, chunk_size=1 << 18, headers={"Content-Type": "application/octet-stream"}
    )


def routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.post(f"{prefix}/files", upload_file),
        web.get(f"{prefix}/files", list_files, allow_head=False),
        web.get(f"{prefix}/files/{{file_id}}", retrieve_file, allow_head=False),
        web.delete(f"{prefix}/files/{{file_id}}", delete_file),
        web.get(f"{prefix}/files/{{file_id}}/content", file_content, allow_head=False),
    ]
