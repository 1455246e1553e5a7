"""The rules of batch-file validation: one :class:`Scan` checks lines one at a time.

Shared by :func:`batchport.validate.validate_file` (a file on disk) and
:class:`batchport.validate.RequestChecker` (requests the runner is writing). The report
types live here too; :mod:`batchport.validate` is the public face.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import orjson

from batchport.errors import ValidationFailed
from batchport.limits import ProviderProfile, Rule
from batchport.requests import Endpoint, embedding_inputs, required_body_fields
from batchport.tokens import estimate_input_tokens, estimate_output_tokens, tokenizer_name

__all__ = ["Problem", "Scan", "ValidationReport"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing the provider would reject.

    ``line`` is 1-based, or ``None`` for a problem with the whole file. ``code`` is the
    provider's code; ``rule`` is batchport's provider-independent name for the check;
    ``param`` names the offending field (``"body.model"``) when there is one.
    """

    path: str
    line: int | None
    code: str
    message: str
    param: str | None = None
    rule: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "line": self.line,
            "code": self.code,
            "rule": self.rule,
            "param": self.param,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The outcome of :func:`validate_file`.

    ``problems`` holds at most ``max_problems`` entries; ``problem_count`` counts them all.
    ``lines`` counts every line, ``requests`` the non-blank ones. ``bytes`` is the file
    size; ``max_line_bytes`` the longest line's, line ending included. ``endpoints`` and
    ``models`` map each url / ``body.model`` seen to its number of lines. Token figures
    are estimates (see :mod:`batchport.tokens`); output tokens are the requested maximums.
    """

    path: str
    provider: str
    problems: tuple[Problem, ...]
    problem_count: int
    lines: int
    requests: int
    bytes: int
    max_line_bytes: int
    endpoints: Mapping[str, int]
    models: Mapping[str, int]
    embedding_inputs: int
    estimated_input_tokens: int
    estimated_output_tokens: int
    tokenizer: str

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return self.problem_count == 0

    @property
    def truncated(self) -> bool:
        """True when more problems were found than ``problems`` holds."""
        return self.problem_count > len(self.problems)

    @property
    def endpoint(self) -> str | None:
        """The one url every line uses, or ``None`` when there are none or several."""
        return next(iter(self.endpoints)) if len(self.endpoints) == 1 else None

    @property
    def model(self) -> str | None:
        """The one model every line names, or ``None`` when there are none or several."""
        return next(iter(self.models)) if len(self.models) == 1 else None

    def raise_if_invalid(self) -> ValidationReport:
        """Return ``self`` when clean.

        Raises:
            ValidationFailed: carrying every stored problem (``.problems``).
        """
        if not self.ok:
            raise ValidationFailed(self.path, list(self.problems))
        return self

    def summary(self) -> str:
        """One line: verdict, counts and the shape of the batch."""
        verdict = "OK" if self.ok else f"{self.problem_count} problem(s)"
        parts = [f"{self.requests:,} requests", f"{self.bytes:,} bytes"]
        if self.endpoints:
            parts.append(", ".join(self.endpoints))
        if self.models:
            parts.append("model " + ", ".join(self.models))
        parts.append(f"~{self.estimated_input_tokens:,} input tokens ({self.tokenizer})")
        return f"{self.path}: {verdict} for {self.provider}: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``ok`` and ``truncated`` included)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["problems"] = [p.to_dict() for p in self.problems]
        data["endpoints"], data["models"] = dict(self.endpoints), dict(self.models)
        return {"ok": self.ok, "truncated": self.truncated, **data}


_MISSING: Any = object()
# "not seen yet" for the fast-path url/model: distinct from _MISSING, so a line that
# lacks its url never takes the fast path
_UNSET: Any = object()
_KEYS = ("custom_id", "method", "url", "body")
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
# Endpoint members are read once, here: on Python 3.11 each read off the class goes
# through EnumType.__getattr__, a Python call, and these are read for every line.
_EMBEDDINGS = Endpoint.EMBEDDINGS
#: the body field each endpoint needs as a non-empty array, when it is given
_ARRAY_FIELDS: Mapping[Endpoint, str] = {
    Endpoint.CHAT_COMPLETIONS: "messages",
    Endpoint.MESSAGES: "messages",
    Endpoint.GENERATE_CONTENT: "contents",
}


class Scan:
    """The state of one pass over a file: counters, first-seen values, problems."""

    def __init__(
        self, path: str, profile: ProviderProfile, endpoint: Endpoint | None, limit: int | None
    ) -> None:
        self.path = path
        self.profile = profile
        self.endpoint = endpoint
        self.endpoint_source = "the batch endpoint" if endpoint is not None else ""
        self.first_url: tuple[str, int] | None = None
        self.first_model: tuple[str, int] | None = None
        # The batch's url and model once seen: most lines repeat them, and the fast path
        # skips every other check for those fields.
        self.good_url: object = _UNSET
        self.good_model: object = _UNSET
        self.limit = limit
        self.head: list[Problem] = []
        self.problems: list[Problem] = []
        self.count = 0
        self.seen: dict[str, int] = {}
        self.lines = self.requests = self.size = self.max_line = 0
        self.endpoints: dict[str, int] = {}
        self.models: dict[str, int] = {}
        self.embedding_inputs = self.input_tokens = self.output_tokens = 0
        self.count_tokens = True
        #: batchport splits by endpoint, model and the provider's limits: with this set,
        #: only what a split cannot fix is a problem
        self.splittable = False
        #: lines are the caller's, which batchport rewrites for the provider: the
        #: profile's ``translated_endpoints`` are accepted (unset for rewritten lines)
        self.accept_translated = False
        #: the provider's custom_id pattern, or None when it is not checked
        self.id_pattern: re.Pattern[str] | None = (
            re.compile(profile.custom_id_pattern) if profile.custom_id_pattern else None
        )

    def report(self, rule: Rule, line: int | None, message: str, param: str | None = None) -> None:
        self.count += 1
        problem = Problem(self.path, line, self.profile.codes[rule], message, param, rule.value)
        if line is None:
            self.head.append(problem)
        elif self.limit is None or len(self.problems) < self.limit:
            self.problems.append(problem)

    def start(self, size: int) -> None:
        self.size = size
        if size > self.profile.max_file_bytes and not self.splittable:
            limit_mb = self.profile.max_file_bytes // (1024 * 1024)
            self.report(
                Rule.FILE_TOO_LARGE,
                None,
                f"the file is {size / 1024 / 1024:,.1f} MB; {self.profile.title} accepts at most "
                f"{limit_mb} MB per batch input file. Split it into several batches.",
            )

    def line(self, number: int, raw: bytes) -> None:
        """Check one line; ``raw`` may still end in its line ending."""
        self.lines = number
        if len(raw) > self.max_line:
            self.max_line = len(raw)
        try:
            obj = _loads(raw)
        except _JSONDecodeError as exc:
            if raw.strip():
                self.requests += 1
                self.report(
                    Rule.INVALID_JSON,
                    number,
                    f"This line is not parseable as valid JSON ({exc}).",
                )
            else:
                self.report(
                    Rule.BLANK_LINE, number, "blank line; a batch file may not contain empty lines."
                )
            return
        self.requests += 1
        if type(obj) is not dict:
            kind = _json_kind(obj)
            self.report(Rule.NOT_AN_OBJECT, number, f"each line must be a JSON object, not {kind}.")
            return
        self.check_request(number, obj)

    def bom(self) -> None:
        if self.profile.name == "azure":
            detail = (
                "Azure OpenAI rejects such files with a misleading error: 'A valid model "
                "deployment name couldn't be extracted from the input file'."
            )
        else:
            detail = "the provider cannot parse line 1 as JSON."
        self.report(
            Rule.UTF8_BOM,
            1,
            f"the file starts with a UTF-8 byte order mark (BOM); {detail} "
            "Save it as UTF-8 without BOM.",
        )

    def check_request(self, number: int, obj: dict[str, Any]) -> None:
        """Check one parsed request line (counters for the line are the caller's)."""
        get = obj.get
        custom_id, method = get("custom_id", _MISSING), get("method", _MISSING)
        self.check_fields(number, custom_id, method, get("url", _MISSING), get("body", _MISSING))

    def check_fields(self, number: int, custom_id: Any, method: Any, url: Any, body: Any) -> None:
        """Check one request given its four fields, :data:`_MISSING` where the line has
        none (counters for the line are the caller's)."""
        # Fast path: a well-formed line for the batch's url (most lines of most files).
        if (
            url == self.good_url
            and method == "POST"
            and type(custom_id) is str
            and custom_id
            and type(body) is dict
        ):
            if self.seen.setdefault(custom_id, number) != number:
                self._custom_id(number, custom_id)
            elif self.id_pattern is not None and not self.id_pattern.fullmatch(custom_id):
                self._id_pattern(number, custom_id)
            self.endpoints[url] += 1
            self._body(number, body, self.endpoint)
            return
        if custom_id is _MISSING or method is _MISSING or url is _MISSING or body is _MISSING:
            for key, value in zip(_KEYS, (custom_id, method, url, body), strict=True):
                if value is _MISSING:
                    self.report(
                        Rule.MISSING_PARAMETER, number, f"Missing required parameter: '{key}'.", key
                    )
        if custom_id is not _MISSING:
            self._custom_id(number, custom_id)
        if method is not _MISSING and method != "POST":
            self.report(
                Rule.INVALID_METHOD,
                number,
                f"method must be 'POST', got {_short(method)}.",
                "method",
            )
        endpoint = self._url(number, url) if url is not _MISSING else None
        if body is _MISSING:
            return
        if type(body) is not dict:
            self.report(
                Rule.INVALID_BODY,
                number,
                f"body must be a JSON object, not {_json_kind(body)}.",
                "body",
            )
            return
        self._body(number, body, endpoint)

    def _custom_id(self, number: int, custom_id: object) -> None:
        if type(custom_id) is not str or not custom_id:
            self.report(
                Rule.INVALID_CUSTOM_ID,
                number,
                f"custom_id must be a non-empty string, got {_short(custom_id)}.",
                "custom_id",
            )
            return
        first = self.seen.setdefault(custom_id, number)
        if first != number:
            self.report(
                Rule.DUPLICATE_CUSTOM_ID,
                number,
                f"The custom_id {custom_id!r} for this request is a duplicate of line {first}. "
                "The custom_id parameter must be unique for each request in a batch.",
                "custom_id",
            )
        elif self.id_pattern is not None and not self.id_pattern.fullmatch(custom_id):
            self._id_pattern(number, custom_id)

    def _id_pattern(self, number: int, custom_id: str) -> None:
        title = self.profile.title
        self.report(
            Rule.CUSTOM_ID_PATTERN,
            number,
            f"custom_id {_short(custom_id)} does not match ^{self.profile.custom_id_pattern}$ "
            f"(rule {Rule.CUSTOM_ID_PATTERN.value}), so {title} refuses it. "
            "A batchport run maps such ids to provider-safe ids and "
            f"back; a batch sent to {title} as it is needs ids that match.",
            "custom_id",
        )

    def _url(self, number: int, url: object) -> Endpoint | None:
        if url == self.good_url:
            self.endpoints[url] += 1  # type: ignore[index]
            return self.endpoint
        profile = self.profile
        endpoint = profile.endpoint_for_url(url)
        if endpoint is None:
            forms = ", ".join(sorted(e.value for e in profile.endpoints))
            also = " (or the same without /v1)" if profile.accepts_unversioned_urls else ""
            self.report(
                Rule.INVALID_URL,
                number,
                f"url {_short(url)} is not a batch endpoint {profile.title} accepts; "
                f"use one of {forms}{also}.",
                "url",
            )
            return None
        assert isinstance(url, str)
        self.endpoints[url] = self.endpoints.get(url, 0) + 1
        if not profile.supports(endpoint) and not (
            self.accept_translated and endpoint in profile.translated_endpoints
        ):
            self.report(
                Rule.UNSUPPORTED_ENDPOINT,
                number,
                f"{profile.title} batches do not support {endpoint.value}.",
                "url",
            )
            return endpoint
        if self.endpoint is None:
            self.endpoint, self.endpoint_source = endpoint, f"line {number}"
        if endpoint is not self.endpoint:
            if self.splittable:  # another shard takes it
                return endpoint
            self.report(
                Rule.URL_MISMATCH,
                number,
                f"The URL provided for this request ({url}) does not match the batch endpoint "
                f"{self.endpoint.value} (set by {self.endpoint_source}). "
                "A batch holds requests for one endpoint.",
                "url",
            )
        elif self.first_url is None:
            self.first_url = (url, number)
            self.good_url = url
        elif url != self.first_url[0]:
            self.report(
                Rule.URL_MISMATCH,
                number,
                f"url {url} is written differently from line {self.first_url[1]} "
                f"({self.first_url[0]}); every line must use the same url.",
                "url",
            )
        return endpoint

    def _body(self, number: int, body: dict[str, Any], endpoint: Endpoint | None) -> None:
        if body.get("stream"):
            self.report(
                Rule.STREAMING,
                number,
                "Streaming is not supported in the Batch API.",
                "body.stream",
            )
        model = body.get("model")
        if model == self.good_model:
            self.models[model] += 1  # type: ignore[index]
        elif model is not None:
            self._model(number, model)
        if endpoint is None:
            return
        for alternatives in required_body_fields(endpoint):
            for name in alternatives:
                if body.get(name) is not None:  # null is no value: the API refuses it
                    break
            else:
                names = " or ".join(alternatives)
                self.report(
                    Rule.MISSING_BODY_FIELD,
                    number,
                    f"{names.capitalize()} parameter is required.",
                    f"body.{alternatives[0]}",
                )
        array = _ARRAY_FIELDS.get(endpoint)
        if array is not None:
            items = body.get(array)
            if items is not None and (type(items) is not list or not items):
                self.report(
                    Rule.INVALID_BODY_FIELD,
                    number,
                    f"{array} must be a non-empty array.",
                    f"body.{array}",
                )
        elif endpoint is _EMBEDDINGS:
            self.embedding_inputs += embedding_inputs(body.get("input"))
        if self.count_tokens:
            self.input_tokens += estimate_input_tokens(body, endpoint)
            self.output_tokens += estimate_output_tokens(body, endpoint)

    def _model(self, number: int, model: object) -> None:
        if type(model) is not str or not model:
            self.report(
                Rule.INVALID_BODY_FIELD,
                number,
                f"model must be a non-empty string, got {_short(model)}.",
                "body.model",
            )
            return
        self.models[model] = self.models.get(model, 0) + 1
        if self.first_model is None:
            self.first_model = (model, number)
            self.good_model = model
            return
        first, line = self.first_model
        if model != first and self.profile.single_model_per_file and not self.splittable:
            noun = "deployment" if self.profile.model_is_deployment else "model"
            self.report(
                Rule.MODEL_MISMATCH,
                number,
                f"The {noun} {model!r} for this request does not match the rest of the batch "
                f"({first!r}, first named on line {line}). Each batch must contain requests "
                f"for a single {noun}.",
                "body.model",
            )

    def finish(self) -> ValidationReport:
        profile = self.profile
        if self.requests == 0:
            blank = " (it holds only blank lines)" if self.lines else ""
            self.report(
                Rule.EMPTY_FILE,
                None,
                f"The input file is empty{blank}. Please ensure that the batch contains at "
                "least one request.",
            )
        if self.requests > profile.max_requests and not self.splittable:
            self.report(
                Rule.TOO_MANY_REQUESTS,
                None,
                f"the file holds {self.requests:,} requests; {profile.title} accepts at most "
                f"{profile.max_requests:,} per batch. Split it into several batches.",
            )
        cap = profile.max_embedding_inputs
        if cap is not None and self.embedding_inputs > cap and not self.splittable:
            self.report(
                Rule.TOO_MANY_EMBEDDING_INPUTS,
                None,
                f"the embedding requests hold {self.embedding_inputs:,} inputs in total; "
                f"{profile.title} accepts at most {cap:,} per batch.",
                "body.input",
            )
        return ValidationReport(
            path=self.path,
            provider=profile.name,
            problems=(*self.head, *self.problems),
            problem_count=self.count,
            lines=self.lines,
            requests=self.requests,
            bytes=self.size,
            max_line_bytes=self.max_line,
            endpoints=self.endpoints,
            models=self.models,
            embedding_inputs=self.embedding_inputs,
            estimated_input_tokens=self.input_tokens,
            estimated_output_tokens=self.output_tokens,
            tokenizer=tokenizer_name(),
        )


_KINDS = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}


def _json_kind(value: object) -> str:
    return "null" if value is None else _KINDS.get(type(value), "an object")


def _short(value: object) -> str:
    try:
        text = repr(value) if isinstance(value, str) else orjson.dumps(value).decode()
    except (TypeError, RecursionError):  # nested deeper than orjson writes
        text = _json_kind(value)
    return text if len(text) <= 60 else text[:57] + "..."
