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
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar

from batchport.backends.base import Backend, Checkpoint
from batchport.backends.models import Job, QuotaLimit, ResultRow, ShardSpec
from batchport.backends.registry import get_backend

if TYPE_CHECKING:
    from batchport.requests import Request

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

    def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        """Blocking :meth:`Backend.submit`; ``checkpoint`` is called from the loop thread."""
        return self.call(self._backend.submit, spec, checkpoint)

    def find(self, spec: ShardSpec, checkpoint: Mapping[str, str] | None = None) -> Job | None:
        return self.call(self._backend.find, spec, dict(checkpoint or {}))

    def poll(self, job: Job) -> Job:
        return self.call(self._backend.poll, job)

    def results(self, job: Job) -> Iterator[ResultRow]:
        """The job's rows, streamed: close the iterator when stopping early."""
        return self._portal.iterate(self._backend.results(job))

    def cancel(self, job: Job) -> Job:
        return self.call(self._backend.cancel, job)

    def release(self, job: Job | None, checkpoint: Mapping[str, str]) -> None:
        self.call(self._backend.release, job, checkpoint)

    def sweep(self, run_id: str, keep: Collection[str]) -> int:
        return self.call(self._backend.sweep, run_id, keep)

    def prepare_request(self, request: Request) -> Request:
        return self._backend.prepare_request(request)

    def quota_limits(self) -> Mapping[str, QuotaLimit]:
        return self._backend.quota_limits()

    def close(self) -> None:
        """Close the wrapped backend, then the loop. Safe to call twice."""
        if self._portal.closed:
            return
        try:
            self.call(self._backend.aclose)
        finally:
            self._portal.close()
