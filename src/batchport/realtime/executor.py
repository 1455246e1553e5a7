"""The realtime executor: the same requests through the synchronous endpoints.

Each request goes to its endpoint (``/v1/chat/completions`` and so on) through the
official ``AsyncOpenAI`` client, one at a time or with several workers, under RPM and
TPM limits (:mod:`batchport.realtime.limits`, fed by :mod:`batchport.tokens` estimates).
A 429 is retried after the server's ``retry-after-ms``/``retry-after`` (and pauses every
worker meanwhile); 408/409/5xx and dropped connections are retried with capped, jittered
backoff; other 4xx are final at once. Every wait goes through the injected clock.

Rows come out as :class:`~batchport.runner.RunResult`, judged by the same code that
judges a batch result line (the OpenAI backend's
:func:`~batchport.backends.openai.results.row_from_response`), so a realtime row and a
batch row of one request compare equal field for field, and cost is counted at the
realtime price.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import orjson
from openai import AsyncOpenAI

from batchport.backends._translate import parse_retry_after
from batchport.backends.models import ResultRow, Usage
from batchport.backends.openai.results import row_from_response
from batchport.errors import ConfigError, InputError
from batchport.pricing import Cost, PriceTable
from batchport.realtime.limits import RateLimiter
from batchport.requests import Request, as_requests
from batchport.runner.clock import Clock, SystemClock
from batchport.runner.policy import Backoff
from batchport.runner.results import RunResult
from batchport.tokens import estimate_input_tokens, estimate_output_tokens

__all__ = ["RealtimeOptions", "RealtimeRun", "run_realtime"]

log = logging.getLogger("batchport.realtime")


@dataclass(frozen=True, slots=True)
class RealtimeOptions:
    """How the realtime executor behaves.

    Attributes:
        concurrency: requests in flight at once (1 = sequential).
        rpm / tpm: client-side limits in requests / estimated tokens per minute
            (None = none; the server's 429s still pace the run).
        max_attempts: HTTP attempts per request before a retryable failure is final.
        backoff_base_s / backoff_cap_s: backoff for 5xx and dropped connections, in
            seconds (attempt n waits a uniform draw in [base*2**n/2, base*2**n], capped).
        timeout_s: per-request timeout in seconds (None keeps the SDK default).
        seed: seeds the backoff jitter, so runs repeat exactly.
    """

    concurrency: int = 1
    rpm: int | None = None
    tpm: int | None = None
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    timeout_s: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")


@dataclass(slots=True)
class RealtimeRun:
    """What a realtime execution produced.

    ``results`` are in input order. ``landed_at`` holds, for each row in the order rows
    settled, the clock time it settled (seconds, same clock as ``started_at``).
    ``rate_limited`` counts 429 answers, ``server_errors`` 5xx answers and dropped
    connections; ``retried`` counts rows that needed more than one attempt.
    """

    results: list[RunResult]
    started_at: float
    finished_at: float
    landed_at: list[float]
    rate_limited: int = 0
    server_errors: int = 0
    limiter_wait_s: float = 0.0
    prices: PriceTable | None = None
    models: Mapping[str, str | None] | None = None

    @property
    def wall_s(self) -> float:
        return self.finished_at - self.started_at

    @property
    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def retried(self) -> int:
        return sum(1 for r in self.results if r.attempts > 1)

    @property
    def failed(self) -> int:
        """Rows that did not succeed (any outcome other than ``succeeded``)."""
        return sum(1 for r in self.results if not r.outcome.ok)

    @property
    def usage(self) -> Usage:
        total = Usage()
        for r in self.results:
            total = total + r.usage
        return total

    @property
    def cost(self) -> Cost:
        """Cost of the tokens used: ``realtime_usd`` is what these calls cost;
        ``batch_usd`` what the same tokens would have cost as a batch."""
        prices = self.prices or PriceTable.default()
        total = Cost()
        for r in self.results:
            u = r.usage
            model = (self.models or {}).get(r.custom_id)
            total = total + prices.cost(
                model,
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                cached_tokens=u.cached_tokens,
                cache_write_tokens=u.cache_write_tokens,
            )
        return total


def _path_of(req: Request) -> str:
    endpoint = req.endpoint
    if endpoint is None:
        return req.url
    return "/" + endpoint.short_name


class _Wire:
    """What differs between the SDKs the executor drives: the path a request goes to,
    how an answer is judged, and the SDK's exception types."""

    def __init__(self, client: Any) -> None:
        module = type(client).__module__
        self.anthropic = module.split(".")[0] == "anthropic"
        self.gemini = module.startswith("google.genai")
        if self.gemini:
            from google.genai import errors as genai_errors

            from batchport.backends.gemini.results import row_from_answer as gemini_answer

            self.judge: Callable[[str, int | None, Any], ResultRow] = gemini_answer
            self.status_error: type[Exception] = genai_errors.APIError
            self.connection_error: type[Exception] = OSError
        elif self.anthropic:
            import anthropic

            from batchport.backends.anthropic.results import row_from_answer

            self.judge = row_from_answer
            self.status_error = anthropic.APIStatusError
            self.connection_error = anthropic.APIConnectionError
        else:
            self.judge = row_from_response
            self.status_error = openai.APIStatusError
            self.connection_error = openai.APIConnectionError

    async def send_gemini(
        self, client: Any, req: Request, timeout_s: float | None
    ) -> tuple[int | None, Mapping[str, str], Any]:
        """One ``generateContent`` call through the google-genai client's own transport
        (auth, base URL, API version): (status, headers, parsed body)."""
        body = {k: v for k, v in req.body.items() if k != "model"}
        options = {"timeout": int(timeout_s * 1000)} if timeout_s is not None else None
        try:
            response = await client.aio._api_client.async_request(
                "post", f"models/{req.model}:generateContent", body, options
            )
        except self.status_error as exc:
            details = getattr(exc, "details", None)
            return int(getattr(exc, "code", 0) or 0) or None, {}, details
        except Exception as exc:  # the transport's own errors (httpx, aiohttp, OS)
            log.debug("%s: no answer (%s)", req.custom_id, type(exc).__name__)
            return None, {}, None
        return 200, dict(response.headers or {}), orjson.loads(response.body or "{}")

    def path(self, req: Request) -> str:
        # the anthropic client's base URL is the server root, the openai client's ends in /v1
        return req.url if self.anthropic else _path_of(req)


class _Executor:
    def __init__(
        self,
        client: Any,
        options: RealtimeOptions,
        clock: Clock,
        parse_models: Mapping[str, type] | None,
        on_result: Callable[[RunResult], None] | None,
        on_row: Callable[[int, ResultRow, int], None] | None = None,
        keep: bool = True,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.client = client
        self.on_row = on_row
        self.keep = keep
        self.wire = _Wire(client)
        self.opts = options
        self.clock = clock
        self.limiter = limiter or RateLimiter(options.rpm, options.tpm, clock)
        self.parse_models = parse_models
        self.on_result = on_result
        self.backoff = Backoff(
            base=options.backoff_base_s,
            factor=2.0,
            cap=options.backoff_cap_s,
            rng=random.Random(options.seed),
        )
        self.results: dict[int, RunResult] = {}
        self.landed_at: list[float] = []
        self.models: dict[str, str | None] = {}
        self.rate_limited = 0
        self.server_errors = 0

    async def worker(self, queue: Iterator[tuple[int, Request]]) -> None:
        # One shared iterator: next() never awaits, so workers take rows in input order.
        for index, req in queue:
            row, attempts = await self.execute(index, req)
            if self.on_row is not None:
                self.on_row(index, row, attempts)
            if not self.keep:
                continue
            result = self.to_result(index, row, attempts)
            self.results[index] = result
            self.models[req.custom_id] = req.model
            self.landed_at.append(self.clock.now())
            if self.on_result is not None:
                self.on_result(result)

    async def execute(self, index: int, req: Request) -> tuple[ResultRow, int]:
        tokens = estimate_input_tokens(req.body, req.url) + estimate_output_tokens(
            req.body, req.url
        )
        attempt = 0
        while True:
            attempt += 1
            await self.limiter.acquire(tokens)
            status, headers, body = await self.send(req)
            row = self.wire.judge(req.custom_id, status, body)
            if not row.retryable or attempt >= self.opts.max_attempts:
                return row, attempt
            await self.clock.sleep(self.retry_wait(status, headers, attempt))

    def retry_wait(self, status: int | None, headers: Mapping[str, str], attempt: int) -> float:
        asked = parse_retry_after(headers, now=self.clock.now) if headers else None
        if status == 429:
            self.rate_limited += 1
            wait = asked if asked is not None else self._backoff(attempt)
            self.limiter.pause(wait)
            return wait
        self.server_errors += 1
        wait = self._backoff(attempt)
        return max(wait, asked) if asked is not None else wait

    def _backoff(self, attempt: int) -> float:
        return self.backoff.delay(attempt - 1)

    async def send(self, req: Request) -> tuple[int | None, Mapping[str, str], Any]:
        """One HTTP attempt: (status, headers, parsed body); status None if it never
        got an answer."""
        path, timeout = self.wire.path(req), self.opts.timeout_s
        if self.wire.gemini:
            return await self.wire.send_gemini(self.client, req, timeout)
        try:
            if timeout is None:
                response = await self.client.post(
                    path, cast_to=httpx2.Response, body=req.body, options={"max_retries": 0}
                )
            else:
                response = await self.client.post(
                    path,
                    cast_to=httpx2.Response,
                    body=req.body,
                    options={"max_retries": 0, "timeout": timeout},
                )
        except self.wire.status_error as exc:
            response = exc.response  # type: ignore[attr-defined]
        except (self.wire.connection_error, httpx2.TransportError) as exc:
            log.debug("%s: no answer (%s)", req.custom_id, type(exc).__name__)
            message = "the connection failed before an answer came"
            return None, {}, {"error": {"code": "connection_error", "message": message}}
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            body = {"error": {"code": "invalid_response", "message": "the body is not JSON"}}
        return response.status_code, response.headers, body

    def to_result(self, index: int, row: ResultRow, attempts: int) -> RunResult:
        model = self.parse_models.get(row.custom_id) if self.parse_models else None
        return RunResult.from_row(index, row, attempts, model)


def _first(group: BaseExceptionGroup[InputError]) -> InputError:
    first = group.exceptions[0]
    return first if isinstance(first, InputError) else _first(first)


async def run_realtime(
    requests: Iterable[Request] | Iterable[dict[str, Any]],
    *,
    client: AsyncOpenAI | Any,
    options: RealtimeOptions | None = None,
    clock: Clock | None = None,
    prices: PriceTable | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    prepare: Callable[[Request], Request] | None = None,
    on_row: Callable[[int, ResultRow, int], None] | None = None,
    keep: bool = True,
    limiter: RateLimiter | None = None,
    **option_fields: Any,
) -> RealtimeRun:
    """Send every request to its synchronous endpoint and return one row per request.

    ``requests`` is a :class:`~batchport.BatchBuilder` or any iterable of
    :class:`~batchport.Request` or of request lines as dicts (as :func:`batchport.run`
    takes them); requests built with ``parse(...)`` get ``parsed`` like
    batch rows do. ``client`` is an ``AsyncOpenAI`` (or ``AsyncAzureOpenAI``) pointed at
    the provider or an emulator, or an ``AsyncAnthropic`` for Anthropic's
    ``/v1/messages``; its own retries are switched off per call, since this executor
    retries on ``clock``. ``prepare`` translates each request first, as a backend's
    :meth:`~batchport.backends.base.Backend.prepare_request` does for a batch (chat
    requests sent to Anthropic, say); cost is counted by the model that ran.
    ``options`` is a :class:`RealtimeOptions` or its fields as keywords. ``on_result``
    is called with each row as it settles; ``on_row`` with ``(index, row, attempts)``
    of each row as the provider's backend would judge it (what a ledger records).
    ``keep=False`` keeps no results in memory (the returned ``results`` stay empty):
    for a caller that records each row through ``on_row``. ``limiter`` shares one
    :class:`~batchport.realtime.limits.RateLimiter` between executions (several at once
    then stay within one set of limits together); by default each has its own, from
    ``options``.

    Raises:
        ConfigError: invalid options.
        InputError: an item is not a request (by its position); rows sent before it
            have been handed to ``on_result`` / ``on_row``.
    """
    opts = options or RealtimeOptions(**option_fields)
    clock = clock or SystemClock()
    models = getattr(requests, "output_models", None)
    ex = _Executor(
        client,
        opts,
        clock,
        models if isinstance(models, Mapping) else None,
        on_result,
        on_row,
        keep,
        limiter,
    )
    queue: Iterator[tuple[int, Request]] = enumerate(as_requests(requests))
    if prepare is not None:
        queue = ((i, prepare(r)) for i, r in queue)
    started = clock.now()
    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(opts.concurrency):
                tg.create_task(ex.worker(queue))
    except BaseExceptionGroup as group:  # a request that cannot be read: its own error
        refused = group.subgroup(InputError)
        if refused is None:
            raise
        raise _first(refused) from None
    finished = clock.now()
    return RealtimeRun(
        results=[ex.results[i] for i in sorted(ex.results)],
        started_at=started,
        finished_at=finished,
        landed_at=ex.landed_at,
        rate_limited=ex.rate_limited,
        server_errors=ex.server_errors,
        limiter_wait_s=ex.limiter.waited_s,
        prices=prices,
        models=ex.models,
    )
