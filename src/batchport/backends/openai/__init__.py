"""The ``openai`` backend: OpenAI's Files and Batch API through the official ``AsyncOpenAI``.

- :class:`OpenAIBackend` — the file mechanics of
  :class:`~batchport.backends.files.FileBackend` with OpenAI's status map
  (:mod:`.status`) and result-line judgement (:mod:`.results`, :mod:`.bodies`).
- :func:`parse_line` — one output/error line -> :class:`~batchport.backends.models.ResultRow`.
- :func:`row_from_response` — one synchronous answer judged as a batch row would be
  (used by the realtime executor).
- :func:`output_text` — the model's text in a response body.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar

import openai
from openai import AsyncOpenAI

from batchport.backends.base import RealtimeAccess
from batchport.backends.compact import PlainRow
from batchport.backends.files import FileBackend
from batchport.backends.lines import line_chunks
from batchport.backends.models import Job, JobStatus, ResultRow
from batchport.backends.openai.bodies import output_text
from batchport.backends.openai.results import parse_line, read_lines, row_from_response
from batchport.backends.openai.status import STATUS_MAP
from batchport.errors import ConfigError, ResultLineError

__all__ = ["OpenAIBackend", "output_text", "parse_line", "row_from_response"]


class OpenAIBackend(FileBackend):
    """Batches on OpenAI (or any server speaking its API, such as the emulator).

    Pass a ready ``client`` (it is never closed here; a copy of it with SDK retries off
    is used), or let the backend build one from ``api_key``/``base_url``/
    ``organization``/``project``; omitted values come from ``OPENAI_API_KEY``,
    ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID`` as the SDK reads
    them. ``max_retries`` is the built client's own retry count: 0 by default, since
    the runner retries on its injected clock. ``timeout`` is in seconds per request;
    None keeps the SDK default (600 s).

    Raises :class:`ConfigError` when no API key can be found.
    """

    name: ClassVar[str] = "openai"
    provider: ClassVar[str] = "openai"
    sends_webhooks: ClassVar[bool] = True
    STATUS_MAP: ClassVar[Mapping[str, JobStatus]] = STATUS_MAP

    def __init__(
        self,
        client: AsyncOpenAI | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_retries: int = 0,
        timeout: float | None = None,
    ) -> None:
        given = {"base_url": base_url, "organization": organization, "project": project}
        # a URL carrying a password is a secret: such a run is resumed with it given again
        self._settings = {k: v for k, v in given.items() if v and "@" not in v}
        if client is not None:
            super().__init__(client.with_options(max_retries=0), owns_client=False)
            return
        kwargs: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "organization": organization,
            "project": project,
            "max_retries": max_retries,
        }
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            built = AsyncOpenAI(**kwargs)
        except openai.OpenAIError as exc:
            raise ConfigError("no OpenAI API key: pass api_key= or set OPENAI_API_KEY") from exc
        super().__init__(built, owns_client=True)

    async def realtime(self) -> RealtimeAccess | None:
        """The same client on the synchronous endpoints; OpenAI offers flex."""
        return RealtimeAccess(await self._sdk(), flex=True)

    def settings(self) -> Mapping[str, Any]:
        """The base URL, organization and project given to the constructor."""
        return dict(self._settings)

    def parse_line(self, raw: bytes, *, source: str, line: int) -> ResultRow:
        """Judge one result line (see :func:`batchport.backends.openai.parse_line`)."""
        return parse_line(raw, source=source, line=line, provider=self.provider)

    async def compact_results(self, job: Job) -> AsyncGenerator[list[ResultRow | PlainRow], None]:
        """:meth:`results` a chunk at a time, with each plain success as a
        :class:`~batchport.backends.compact.PlainRow` (a subclass that reads or judges
        result lines its own way gets its :meth:`results` one by one)."""
        cls = type(self)
        if cls.parse_line is not OpenAIBackend.parse_line or cls.results is not FileBackend.results:
            async with aclosing(self.results(job)) as rows:
                async for row in rows:
                    yield [row]
            return
        provider = self.provider
        for name in ("output", "error"):
            file_id = job.refs.get(name)
            if not file_id:
                continue
            async with aclosing(line_chunks(self.stream_file(file_id))) as parts:
                async for first, lines in parts:
                    batch: list[ResultRow | PlainRow] = []
                    try:
                        read_lines(lines, first, batch, source=file_id, provider=provider)
                    except ResultLineError:
                        if batch:  # the rows before the bad line come first
                            yield batch
                        raise
                    if batch:
                        yield batch
