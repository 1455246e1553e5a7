"""Gemini's Files API: resumable uploads under ``/upload/v1beta/files``, ``files/{id}``
get, list and delete, and downloads of generated files (``:download?alt=media``, under
``/v1beta`` as the SDK asks and under ``/download/v1beta`` as the REST guide shows).

Upload bytes are streamed to disk chunk by chunk, never held whole; files live
``gemini.file_ttl_s`` of virtual time (48 hours), then answer 404.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from batchport_emulator.app.gemini_common import gemini, next_token, origin, page_size, page_token
from batchport_emulator.app.helpers import json_response, principal_of, state_of
from batchport_emulator.dialects.gemini import (
    DOWNLOAD_PREFIX,
    UPLOAD_PREFIX,
    V1_DOWNLOAD_PREFIX,
    V1_UPLOAD_PREFIX,
)
from batchport_emulator.errors import ApiError, request_timeout
from batchport_emulator.files import FileRecord
from batchport_emulator.gemini.envelope import field
from batchport_emulator.gemini.uploads import UploadSession

CHUNK = 1 << 18
GRANULARITY = 8 * 1024 * 1024


def _not_found(name: str) -> ApiError:
    return ApiError(
        403,
        f"You do not have permission to access the File {name[:64]} or it may not exist.",
    )


def find_file(request: web.Request, file_id: str) -> FileRecord:
    """The path's file if the caller may see it; the real API answers 403 otherwise."""
    state = state_of(request)
    record = state.dialect_file(file_id, gemini(request), principal=principal_of(request))
    if record is None:
        raise _not_found(file_id)
    return record


def _resource(request: web.Request, record: FileRecord) -> dict[str, Any]:
    return gemini(request).file_resource(record, origin=origin(request))


async def _start_body(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(64 * 1024)
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "Invalid JSON payload received.") from None
    file = body.get("file") if isinstance(body, dict) else None
    return file if isinstance(file, dict) else {}


async def start_upload(request: web.Request) -> web.Response:
    """``X-Goog-Upload-Command: start``: open a session, answer its URL."""
    state, dialect = state_of(request), gemini(request)
    headers = request.headers
    if headers.get("X-Goog-Upload-Protocol", "").lower() != "resumable":
        raise ApiError(400, "Only the resumable upload protocol is supported.")
    if "start" not in headers.get("X-Goog-Upload-Command", "").lower():
        raise ApiError(400, "The first request of an upload must be X-Goog-Upload-Command: start.")
    declared_raw = headers.get("X-Goog-Upload-Header-Content-Length")
    declared = int(declared_raw) if declared_raw and declared_raw.isdigit() else None
    cap = dialect.settings.max_file_bytes
    if declared is not None and declared > cap:
        raise ApiError(400, f"File size exceeds the limit of {cap} bytes.")
    meta = await _start_body(request)
    mime = headers.get("X-Goog-Upload-Header-Content-Type") or field(meta, "mimeType", "mime_type")
    display = field(meta, "displayName", "display_name")
    session = UploadSession(
        sink=state.begin_upload(cap, bind=False),
        mime_type=str(mime or "application/octet-stream"),
        display_name=display if isinstance(display, str) else None,
        declared_size=declared,
        principal=principal_of(request),
    )
    upload_id = state.ids.base36(48)
    dialect.rules.uploads.add(upload_id, session)
    url = f"{origin(request)}{UPLOAD_PREFIX}/files?upload_id={upload_id}&upload_protocol=resumable"
    return web.Response(
        status=200,
        headers={
            "x-goog-upload-url": url,
            "x-goog-upload-control-url": url,
            "x-goog-upload-status": "active",
            "x-goog-upload-chunk-granularity": str(GRANULARITY),
        },
    )


async def _receive(request: web.Request, session: UploadSession) -> None:
    timeout = state_of(request).config.read_timeout_s
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await request.content.read(CHUNK)
        except TimeoutError:
            raise request_timeout() from None
        if not chunk:
            return
        try:
            session.write(chunk)
        except ApiError:  # past the cap: the sink removed what it had
            raise ApiError(400, "File size exceeds the limit.") from None


async def upload_bytes(request: web.Request) -> web.Response:
    """``upload`` / ``upload, finalize`` / ``finalize`` / ``query`` / ``cancel`` on a
    session's URL."""
    if "upload_id" not in request.query:
        return await start_upload(request)
    state, dialect = state_of(request), gemini(request)
    upload_id = request.query["upload_id"]
    session = dialect.rules.uploads.get(upload_id)
    if session is None:
        raise ApiError(404, "No upload session with this id, or it has ended.")
    command = {
        c.strip() for c in request.headers.get("X-Goog-Upload-Command", "").lower().split(",")
    }
    if "cancel" in command:
        dialect.rules.uploads.close(upload_id, abort=True)
        return web.Response(status=200, headers={"x-goog-upload-status": "cancelled"})
    if "upload" in command:
        offset = request.headers.get("X-Goog-Upload-Offset")
        if offset is not None and offset != str(session.sink.size):
            raise ApiError(
                400, f"Invalid upload offset {offset[:20]}; expected {session.sink.size}."
            )
        try:
            await _receive(request, session)
        except ApiError:
            dialect.rules.uploads.close(upload_id, abort=True)
            raise
    received = {"x-goog-upload-size-received": str(session.sink.size)}
    if "finalize" not in command:
        return web.Response(status=200, headers={"x-goog-upload-status": "active", **received})
    if session.declared_size is not None and session.declared_size != session.sink.size:
        dialect.rules.uploads.close(upload_id, abort=True)
        raise ApiError(400, "The uploaded size does not match X-Goog-Upload-Header-Content-Length.")
    dialect.rules.uploads.close(upload_id, abort=False)
    details = {"mimeType": session.mime_type, "sha256Hash": session.sha256()}
    if session.display_name:
        details["displayName"] = session.display_name
    record = state.adopt_upload(
        session.sink,
        filename=session.display_name or "upload",
        dialect=dialect,
        expires_after_s=dialect.settings.file_ttl_s,
        details=orjson.dumps(details).decode(),
        principal=session.principal,
    )
    body = {"file": _resource(request, record)}
    return json_response(body, headers={"x-goog-upload-status": "final", **received})


async def file_action(request: web.Request) -> web.StreamResponse:
    """``GET files/{id}`` (the resource) or ``GET files/{id}:download?alt=media``."""
    file_id, _, action = request.match_info["name"].partition(":")
    if action == "download":
        return await download(request, file_id)
    if action:
        raise gemini(request).unknown_route(request.method, request.path)
    return json_response(_resource(request, find_file(request, file_id)))


async def download(request: web.Request, file_id: str) -> web.StreamResponse:
    record = find_file(request, file_id)
    if request.query.get("alt") != "media":
        raise ApiError(400, "Downloads need alt=media.")
    if record.purpose != gemini(request).rules.result_purpose:
        raise ApiError(
            400,
            "Only generated files can be downloaded; uploaded files cannot be downloaded.",
            code="FAILED_PRECONDITION",
        )
    path = state_of(request).files.content_path(record.id)
    return web.FileResponse(path, chunk_size=CHUNK, headers={"Content-Type": "application/jsonl"})


async def delete_file(request: web.Request) -> web.Response:
    file_id = request.match_info["name"]
    record = find_file(request, file_id)
    state_of(request).files.delete(record.id)
    return json_response({})


async def list_files(request: web.Request) -> web.Response:
    state, dialect = state_of(request), gemini(request)
    size = page_size(request.query, default=10, maximum=100)
    after = page_token(request.query)
    principal = principal_of(request)
    mine = [
        r
        for r in reversed(state.files.all())
        if state.dialect_file(r.id, dialect, principal=principal) is not None
        and (after is None or r.seq < after)
    ]
    page = mine[:size]
    body: dict[str, Any] = {}
    if page:
        body["files"] = [_resource(request, r) for r in page]
    if len(mine) > size:
        body["nextPageToken"] = next_token(page[-1].seq)
    return json_response(body)


def routes(prefix: str) -> list[web.RouteDef]:
    if prefix in (UPLOAD_PREFIX, V1_UPLOAD_PREFIX):
        return [
            web.post(f"{prefix}/files", upload_bytes),
            web.put(f"{prefix}/files", upload_bytes),
        ]
    if prefix in (DOWNLOAD_PREFIX, V1_DOWNLOAD_PREFIX):
        return [web.get(f"{prefix}/files/{{name}}", file_action, allow_head=False)]
    return [
        web.get(f"{prefix}/files", list_files, allow_head=False),
        web.get(f"{prefix}/files/{{name}}", file_action, allow_head=False),
        web.delete(f"{prefix}/files/{{name}}", delete_file),
    ]
