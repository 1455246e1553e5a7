"""Dialects: one object per provider API the emulator speaks.

The state model is shared; a :class:`Dialect` carries everything that differs between
providers, so nothing else compares dialect names:

- the wire: URL prefixes and the route sets served under them, auth, per-request
  checks, request ids and their header, error bodies, object shapes, the upload status
  code, the result-line form (:class:`~.lines.LineWriter`);
- the behaviour: its :class:`~.rules.DialectRules` (uploads, create checks, deadlines,
  validation, quota, empty error files), consulted by the state model and processor.

The middleware picks a request's dialect once, from the path, through
:class:`~.registry.Dialects` (the longest matching prefix wins) and hands the object
down. Batches and files remember their dialect's *name* only so that a batch read back
from disk finds its dialect again, and for display. Four dialects exist: OpenAI
(``/v1``, :mod:`.openai`), Azure (``/openai`` and ``/openai/v1``, :mod:`.azure`),
Anthropic (``/v1/messages``, :mod:`.anthropic`) and Gemini (``/v1beta``,
``/upload/v1beta``, ``/download/v1beta``, :mod:`.gemini`); :data:`~.registry.FACTORIES`
lists them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from batchport_emulator.batches import Batch
from batchport_emulator.dialects.lines import LineWriter
from batchport_emulator.dialects.rules import DialectRules
from batchport_emulator.errors import ApiError
from batchport_emulator.files import FileRecord
from batchport_emulator.ids import IdFactory


class Dialect(Protocol):
    #: stored on files and batches, shown by the control endpoints, given to responders
    name: str
    #: URL prefixes served, e.g. ``("/v1",)``; see :class:`~.registry.Dialects`
    prefixes: tuple[str, ...]
    #: HTTP status of a successful upload
    upload_status: int
    #: which route sets the app serves under each prefix: ``files``, ``batches``,
    #: ``realtime`` (chat completions, ...), ``anthropic`` (messages and message batches),
    #: ``gemini`` (batches, files and generateContent)
    route_sets: tuple[str, ...]
    #: the response header carrying the request id
    request_id_header: str
    lines: LineWriter

    @property
    def rules(self) -> DialectRules: ...

    def request_id(self, ids: IdFactory) -> str:
        """A new request id in the provider's form."""

    def check_auth(self, headers: Mapping[str, str], accepted: Sequence[str]) -> str | None:
        """Raise :class:`ApiError` 401 unless the headers carry an accepted key.

        An empty ``accepted`` means any non-empty key is accepted. Returns the
        *principal* the credential stands for when keys are configured (files and
        batches are then scoped to it), ``None`` when they are not (no scoping).
        """

    def check_request(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> None:
        """Raise :class:`ApiError` for a request the dialect refuses before routing
        (after auth), such as a missing ``api-version`` or ``anthropic-version``."""

    def unknown_route(self, method: str, path: str) -> ApiError:
        """The 404 for a path under the dialect's prefixes that no route serves."""

    def error_body(self, error: ApiError, request_id: str | None = None) -> dict[str, Any]:
        """The error's body; ``request_id`` is the response's, for dialects that echo it."""

    def file_object(self, record: FileRecord) -> dict[str, Any]: ...

    def batch_object(self, batch: Batch) -> dict[str, Any]: ...


@runtime_checkable
class UrlAuth(Protocol):
    """An optional hook: a dialect whose credentials may also sit in the URL (Gemini's
    ``?key=``, its upload sessions) authenticates the whole request through it instead
    of :meth:`Dialect.check_auth`; same contract otherwise."""

    def check_url_auth(
        self,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        accepted: Sequence[str],
    ) -> str | None: ...


@runtime_checkable
class ErrorHeaders(Protocol):
    """An optional hook: the headers an error response carries, when a dialect shows
    fewer than the error's own (Gemini's 429s carry no ``Retry-After``)."""

    def error_headers(self, error: ApiError) -> Mapping[str, str]: ...
