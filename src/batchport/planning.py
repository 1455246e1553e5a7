"""Planning: how a stream of requests splits into shards, and what it will cost.

Requests are grouped by (endpoint, model) — a batch has one endpoint and, on both
providers, one model per file — and each group is cut greedily into shards that
respect the provider's row, byte and embedding-input limits plus any row or token
cap the caller sets. Planning streams: it holds one open shard per group, never the
whole input.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from batchport.errors import InputError, ValidationFailed
from batchport.limits import ProviderProfile
from batchport.pricing import Cost, PriceTable
from batchport.requests import Endpoint, Request, embedding_inputs
from batchport.tokens import estimate_tokens

if TYPE_CHECKING:
    from batchport.validate import Problem, RequestChecker

__all__ = [
    "Plan",
    "ShardPlan",
    "ShardSink",
    "Sharder",
    "estimate_cost",
    "plan_requests",
    "price_model",
]

GroupKey = tuple[str, str | None]
# read once: on Python 3.11 each read of a member off the class is a Python call
_EMBEDDINGS = Endpoint.EMBEDDINGS


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """One shard: the rows it holds and its estimates. ``index`` is 0-based in the run."""

    index: int
    endpoint: str
    model: str | None
    rows: int
    bytes: int
    est_input_tokens: int
    est_output_tokens: int
    content_hash: str
    #: the model the provider runs, when a backend translated it (a Claude model)
    provider_model: str | None = None

    @property
    def shard_id(self) -> str:
        return f"s{self.index:04d}"


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run would submit. Nothing is spent to make one."""

    provider: str
    shards: tuple[ShardPlan, ...]
    fingerprint: str
    cost: Cost
    caveats: tuple[str, ...] = ()

    @property
    def total_rows(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def total_bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    @property
    def est_input_tokens(self) -> int:
        return sum(s.est_input_tokens for s in self.shards)

    def render(self) -> str:
        """A human-readable table of the shards, estimates and caveats."""
        lines = [
            f"plan for provider {self.provider}: {self.total_rows:,} rows in "
            f"{len(self.shards)} shard(s), {self.total_bytes:,} bytes, "
            f"~{self.est_input_tokens:,} input tokens",
            f"{'shard':<7} {'endpoint':<22} {'model':<24} {'rows':>8} {'bytes':>12} "
            f"{'~tokens':>11}",
        ]
        for s in self.shards:
            lines.append(
                f"{s.shard_id:<7} {s.endpoint:<22} {s.model or '-':<24} {s.rows:>8,} "
                f"{s.bytes:>12,} {s.est_input_tokens:>11,}"
            )
        if self.cost.priced:
            lines.append(
                f"estimated cost: ${self.cost.batch_usd:,.4f} as a batch, "
                f"${self.cost.realtime_usd:,.4f} in realtime "
                f"(saves ${self.cost.saved_usd:,.4f}); outputs estimated at their token caps"
            )
        else:
            lines.append("estimated cost: unknown (a model is not in the price table)")
        lines.extend(f"caveat: {c}" for c in self.caveats)
        return "\n".join(lines)


class ShardSink(Protocol):
    """Receives rows as shards are cut (the run writes them to files; a plan does not)."""

    def row(self, shard_index: int, pos: int, request: Request, line: bytes) -> None: ...
    def shard_closed(self, shard: ShardPlan) -> None: ...


@dataclass(slots=True)
class _Open:
    index: int
    endpoint: str
    model: str | None
    rows: int = 0
    bytes: int = 0
    inputs: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)


class Sharder:
    """Cuts requests into shards. Call :meth:`add` per request, then :meth:`close`."""

    def __init__(
        self,
        profile: ProviderProfile,
        *,
        max_rows: int | None = None,
        max_tokens: int | None = None,
        sink: ShardSink | None = None,
    ) -> None:
        self.profile = profile
        self.max_rows = min(profile.max_requests, max_rows or profile.max_requests)
        self.max_bytes = profile.max_file_bytes
        self.max_tokens = max_tokens
        self._sink = sink
        self._open: dict[GroupKey, _Open] = {}
        self._next_index = 0
        self.shards: list[ShardPlan] = []
        self.fingerprint = hashlib.sha256()
        self._hash = self.fingerprint.update
        self._endpoints: dict[str, tuple[Endpoint | None, str]] = {}

    def add(self, request: Request, line: bytes | None = None) -> None:
        line = request.to_json() if line is None else line
        self._hash(line)
        self._hash(b"\n")
        url = request.url
        known = self._endpoints.get(url) if type(url) is str else None
        if known is None:
            known = self._endpoint(url)
        ep, endpoint = known  # the Endpoint (None when unknown) and its name
        body = request.body
        model = body.get("model")
        if not isinstance(model, str):
            model = None
        key = (endpoint, model)
        size = len(line) + 1
        inputs = embedding_inputs(body.get("input")) if ep is _EMBEDDINGS else 0
        tokens_in, tokens_out = estimate_tokens(body, ep or endpoint)
        cur = self._open.get(key)
        if cur is not None and self._full(cur, size, inputs, tokens_in):
            self._close(key)
            cur = None
        if cur is None:
            cur = self._open[key] = _Open(self._next_index, endpoint, model)
            self._next_index += 1
        cur.rows += 1
        cur.bytes += size
        cur.inputs += inputs
        cur.tokens_in += tokens_in
        cur.tokens_out += tokens_out
        cur.digest.update(line)
        if self._sink is not None:
            self._sink.row(cur.index, cur.rows, request, line)

    def _endpoint(self, url: object) -> tuple[Endpoint | None, str]:
        """The endpoint ``url`` names and the name its shards go by, remembered for the
        next requests (most repeat one url; a few dozen distinct ones are kept)."""
        ep = Endpoint.from_url(url, allow_unversioned=True)
        known = (ep, str(ep or url))
        if type(url) is str and len(self._endpoints) < 64:
            self._endpoints[url] = known
        return known

    def _full(self, cur: _Open, size: int, inputs: int, tokens: int) -> bool:
        if cur.rows + 1 > self.max_rows or cur.bytes + size > self.max_bytes:
            return True
        cap = self.profile.max_embedding_inputs
        if inputs and cap is not None and cur.inputs + inputs > cap:
            return True
        return self.max_tokens is not None and cur.tokens_in + tokens > self.max_tokens

    def _close(self, key: GroupKey) -> None:
        cur = self._open.pop(key)
        plan = ShardPlan(
            index=cur.index,
            endpoint=cur.endpoint,
            model=cur.model,
            rows=cur.rows,
            bytes=cur.bytes,
            est_input_tokens=cur.tokens_in,
            est_output_tokens=cur.tokens_out,
            content_hash=cur.digest.hexdigest()[:16],
        )
        self.shards.append(plan)
        if self._sink is not None:
            self._sink.shard_closed(plan)

    def close(self) -> list[ShardPlan]:
        for key in list(self._open):
            self._close(key)
        self.shards.sort(key=lambda s: s.index)
        return self.shards


def price_model(caller: str | None, provider: str | None, prices: PriceTable) -> str | None:
    """The model to price: the provider's where the table knows it (a Claude model a
    chat request was translated to), else the caller's (an Azure deployment's model)."""
    if provider is not None and prices.lookup(provider) is not None:
        return provider
    return caller


def estimate_cost(shards: Iterable[ShardPlan], prices: PriceTable) -> Cost:
    total = Cost()
    for s in shards:
        total = total + prices.cost(
            price_model(s.model, s.provider_model, prices),
            input_tokens=s.est_input_tokens,
            output_tokens=s.est_output_tokens,
        )
    return total


def duplicate_custom_id(custom_id: str, number: int, *, path: str | None = None) -> InputError:
    """The error for request ``number`` (1-based) whose custom_id an earlier one has."""
    return InputError(
        f"custom_id {custom_id!r} appears more than once (request {number}); "
        "every request in a run needs its own custom_id",
        path=path,
        line=number,
        rule="duplicate_custom_id",
    )


class _Translated:
    """A plan's :class:`ShardSink`: each shard's model and bytes as the provider's and,
    when ``check`` names the input, each request checked as a run checks it (the
    provider's rules per shard, custom_ids once each)."""

    def __init__(
        self,
        profile: ProviderProfile,
        translate: Callable[[Request], Request] | None,
        check: str | None,
        ids_mapped: bool,
    ) -> None:
        self.profile = profile
        self.translate = translate
        self.check = check
        self.ids_mapped = ids_mapped
        self.models: dict[int, str | None] = {}
        self.sizes: dict[int, int] = {}
        self.checkers: dict[int, RequestChecker] = {}
        self.problems: list[Problem] = []
        self.ids: set[str] = set()
        self.number = 0

    def row(self, shard_index: int, pos: int, request: Request, line: bytes) -> None:
        self.number += 1
        wire = self.translate(request) if self.translate is not None else request
        if wire is not request:
            line = wire.to_json()
        self.sizes[shard_index] = self.sizes.get(shard_index, 0) + len(line) + 1
        self.models.setdefault(shard_index, wire.model)
        if self.check is None:
            return
        if request.custom_id in self.ids:
            raise duplicate_custom_id(request.custom_id, self.number, path=self.check)
        self.ids.add(request.custom_id)
        checker = self.checkers.get(shard_index)
        if checker is None:
            from batchport.validate import RequestChecker

            checker = RequestChecker(self.check, self.profile, ids_mapped=self.ids_mapped)
            self.checkers[shard_index] = checker
        checker.check(self.number, line, wire)

    def shard_closed(self, shard: ShardPlan) -> None:
        checker = self.checkers.pop(shard.index, None)
        if checker is not None:
            self.problems.extend(checker.report().problems)


def plan_requests(
    requests: Iterable[Request],
    profile: ProviderProfile,
    *,
    prices: PriceTable,
    max_rows: int | None = None,
    max_tokens: int | None = None,
    caveats: Iterator[str] | tuple[str, ...] = (),
    translate: Callable[[Request], Request] | None = None,
    check: str | None = None,
    ids_mapped: bool = False,
) -> Plan:
    """Plan ``requests`` for ``profile`` without writing or sending anything.

    ``translate`` turns a caller's request into the provider's, as a run does (a
    backend's ``prepare_request``): shards are cut and fingerprinted from the caller's
    requests, but priced by the model the provider runs and sized as the provider's
    lines. Raises what it raises (an :class:`InputError` for a model with no mapping).

    ``check`` (the input's name, for errors) checks every request as a run would
    before sending anything; ``ids_mapped`` as :class:`~batchport.validate.RequestChecker`
    takes it.

    Raises:
        ValidationFailed: with ``check``, a request breaks the provider's rules.
        InputError: with ``check``, a custom_id comes twice or there is no request.
    """
    wanted = translate is not None or check is not None
    sink = _Translated(profile, translate, check, ids_mapped) if wanted else None
    sharder = Sharder(profile, max_rows=max_rows, max_tokens=max_tokens, sink=sink)
    for request in requests:
        sharder.add(request)
    shards = tuple(sharder.close())
    if check is not None and sink is not None:
        if not shards:
            raise InputError("the run has no requests", path=check, rule="empty_file")
        if sink.problems:
            raise ValidationFailed(check, sink.problems)
    if sink is not None:
        shards = tuple(
            dataclasses.replace(
                s,
                provider_model=sink.models.get(s.index, s.model),
                bytes=sink.sizes.get(s.index, s.bytes),
            )
            for s in shards
        )
    return Plan(
        provider=profile.name,
        shards=shards,
        fingerprint=sharder.fingerprint.hexdigest(),
        cost=estimate_cost(shards, prices),
        caveats=tuple(caveats),
    )
