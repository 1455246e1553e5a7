"""A thin synchronous facade over the async core.

:class:`Portal` runs one private event loop on a background thread and executes
coroutines (and async iterators) there on behalf of synchronous callers. It works the
same whether or not the caller's thread already runs an event loop (scripts, notebooks).
:class:`SyncBackend` wraps any :class:`~batchport.backends.base.Backend` with it, method by
method; there is no second copy of any logic. :func:`run_sync` runs one coroutine
function to completion for code that needs nothing more.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from batchport.backends import get_backend
from batchport.backends.base import Backend, BatchJob, FileRef

__all__ = ["Portal", "SyncBackend", "run_sync"]

T = TypeVar("T")
P = ParamSpec("P")


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Stop the loop, join its thread and close it (also run by the GC finalizer)."""
    if loop.is_closed():
        return
    if loop.is_running():
        loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join()
    if not loop.is_running():
        loop.close()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


class _ClosedOnExit:
    """``with`` support for a class whose :meth:`close` releases all it holds."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Portal(_ClosedOnExit):
    """One event loop on a daemon thread; :meth:`call` blocks until a coroutine is done.

    Close it (or use ``with``) to shut the loop down; an unclosed portal is stopped when
    garbage-collected.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        # The thread must not reference self, or an unclosed portal could never be collected.
        self._thread = threading.Thread(
            target=_run_loop, args=(self._loop,), name="batchport-portal", daemon=True
        )
        self._thread.start()
        self._finalizer = weakref.finalize(self, _stop, self._loop, self._thread)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def _submit(self, make: Callable[[], Awaitable[T]]) -> T:
        # Takes a factory so that nothing is created (and left un-awaited) when refused.
        if self.closed:
            raise RuntimeError("portal is closed")
        if threading.current_thread() is self._thread:
            raise RuntimeError("a Portal cannot be called from its own loop: it would deadlock")

        async def wrapper() -> T:
            return await make()

        future: Future[T] = asyncio.run_coroutine_threadsafe(wrapper(), self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt while waiting: stop the coroutine too
            raise

    def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``await fn(*args, **kwargs)`` on the portal loop and return its result."""
        return self._submit(lambda: fn(*args, **kwargs))

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """Drive an async iterator from sync code, one item per round trip.

        The async iterator is closed on the loop when the sync one is exhausted,
        closed, or garbage-collected.
        """
        try:
            while True:
                try:
                    yield self._submit(agen.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and not self.closed:
                self._submit(aclose)

    def close(self) -> None:
        """Finish pending async generators, stop the loop and join the thread."""
        if self.closed:
            return
        try:
            self._submit(self._loop.shutdown_asyncgens)
            self._submit(self._loop.shutdown_default_executor)
        finally:
            self._finalizer()


def run_sync(fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``await fn(*args, **kwargs)`` to completion from synchronous code.

    Uses :func:`asyncio.run` when the calling thread has no running loop, and a
    short-lived :class:`Portal` when it does (e.g. inside a notebook).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:

        async def main() -> T:
            return await fn(*args, **kwargs)

        return asyncio.run(main())
    with Portal() as portal:
        return portal.call(fn, *args, **kwargs)


class SyncBackend(_ClosedOnExit):
    """Blocking twin of a :class:`Backend`: the same methods, run on a private loop.

    ``backend`` is anything :func:`~batchport.backends.get_backend` accepts (a name, an
    instance, or None), with ``options`` for a named one. Close it, or use ``with``;
    that closes the wrapped backend too.
    """

    def __init__(self, backend: str | Backend | None = None, **options: Any) -> None:
        self._backend = get_backend(backend, **options)
        self._portal = Portal()

    def __repr__(self) -> str:
        return f"SyncBackend({self._backend!r})"

    @property
    def backend(self) -> Backend:
        """The wrapped async backend (its coroutines must run via :meth:`call`)."""
        return self._backend

    def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run any coroutine function on this facade's loop (the backend's loop)."""
        return self._portal.call(fn, *args, **kwargs)

    def upload_file(self, path: Path, *, expires_after_s: int | None = None) -> FileRef:
        return self.call(self._backend.upload_file, path, expires_after_s=expires_after_s)

    def retrieve_file(self, file_id: str) -> FileRef:
        return self.call(self._backend.retrieve_file, file_id)

    def create_batch(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        metadata: Mapping[str, str] | None = None,
        completion_window: str = "24h",
        output_expires_after_s: int | None = None,
    ) -> BatchJob:
        return self.call(
            self._backend.create_batch,
            input_file_id=input_file_id,
            endpoint=endpoint,
            metadata=metadata,
            completion_window=completion_window,
            output_expires_after_s=output_expires_after_s,
        )

    def retrieve_batch(self, batch_id: str) -> BatchJob:
        return self.call(self._backend.retrieve_batch, batch_id)

    def cancel_batch(self, batch_id: str) -> BatchJob:
        return self.call(self._backend.cancel_batch, batch_id)

    def list_batches(
        self, *, metadata: Mapping[str, str] | None = None, page_size: int = 100
    ) -> Iterator[BatchJob]:
        return self._portal.iterate(
            self._backend.list_batches(metadata=metadata, page_size=page_size)
        )

    def list_files(self, *, purpose: str | None = "batch") -> Iterator[FileRef]:
        return self._portal.iterate(self._backend.list_files(purpose=purpose))

    def stream_file(self, file_id: str) -> Iterator[bytes]:
        return self._portal.iterate(self._backend.stream_file(file_id))

    def delete_file(self, file_id: str) -> None:
        self.call(self._backend.delete_file, file_id)

    def close(self) -> None:
        """Close the wrapped backend, then the loop. Safe to call twice."""
        if self._portal.closed:
            return
        try:
            self.call(self._backend.aclose)
        finally:
            self._portal.close()
