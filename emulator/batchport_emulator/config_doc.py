"""Every configuration key of the emulator, written out from :class:`EmulatorConfig`.

``docs/emulator-config.md`` is this module's output, so the documentation cannot
drift from the model (a test compares them). Regenerate it with::

    python -m batchport_emulator.config_doc > docs/emulator-config.md
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from batchport_emulator.config import PROFILES, EmulatorConfig

__all__ = ["MEANINGS", "render", "undocumented"]

_HEAD = """# Emulator configuration

Every key of the emulator's configuration, generated from its model
(`python -m batchport_emulator.config_doc > docs/emulator-config.md`; a test keeps
this page and the model in step). Pass a mapping (or a JSON/TOML file with
`--config`) to `Emulator(...)`, `EmulatorThread(...)`, `EmulatorBackend(...)`,
`batchport emulator serve`, or the `batch_emulator_config` pytest fixture; patch a
running emulator with `PATCH /_emulator/config` (start-up-only keys excepted).

Time-based behaviour (expiry, stalls, throughput) runs on the emulator's virtual clock:
to make a 24-hour expiry fire in a test, advance the clock (`POST /_emulator/clock
{"advance_s": 90000}` or `emulator.advance_clock(90000)`), or run it faster with
`clock.scale`, instead of waiting.
"""


#: What each key does, for keys whose model field carries no description of its own.
MEANINGS: dict[str, str] = {
    "profile": "starting point applied beneath explicit values (see Profiles above)",
    "host": "address to listen on (loopback by default)",
    "port": "port to listen on; 0 picks a free one",
    "api_keys": "keys accepted (bearer or api-key header); empty accepts any non-empty key",
    "data_dir": "keep files, batches and the clock here across restarts; none keeps "
    "everything in memory",
    "seed": "seeds every random draw (faults, shuffled output), so runs repeat exactly",
    "id_seed": "seeds generated ids; none makes them random",
    "clock": "the virtual clock",
    "progression": "how batches move through their stages (pick one `kind`)",
    "batches": "batch behaviour",
    "limits": "the provider's limits the emulator enforces",
    "faults": "injected failures",
    "realtime": "the synchronous endpoints' latency and rate limits",
    "responder": "how requests are answered",
    "azure": "the Azure dialect",
    "anthropic": "the Anthropic dialect (Message Batches and Messages under /v1/messages)",
    "anthropic.max_request_bytes": "largest message batch create body; a 413 "
    "request_too_large beyond it",
    "anthropic.max_requests_per_batch": "requests per message batch",
    "anthropic.expires_after_s": "virtual seconds before a message batch's unfinished "
    "requests expire",
    "anthropic.results_retention_s": "virtual seconds after created_at before results are "
    "archived (archived_at set, results 404)",
    "anthropic.api_versions": "anthropic-version values accepted; none accepts any "
    "(the header is always required)",
    "gemini": "the Gemini dialect (Batch mode, Files API and generateContent under /v1beta)",
    "gemini.max_inline_bytes": "largest batchGenerateContent body (inline requests); a 400 "
    "INVALID_ARGUMENT beyond it",
    "gemini.max_file_bytes": "largest file a resumable upload may store",
    "gemini.max_requests_per_batch": "inline requests per batch; none sets no count limit "
    "(the real service documents only the size)",
    "gemini.expires_after_s": "virtual seconds before a pending or running batch becomes "
    "BATCH_STATE_EXPIRED, with no results",
    "gemini.file_ttl_s": "virtual seconds an uploaded or generated file lives before it is deleted",
    "gemini.page_size": "batches per list page when pageSize is not given",
    "webhooks": "signed webhooks sent when batches finish",
    "progression.kind": "which progression policy",
    "progression.polls": "status reads each stage lasts",
    "progression.requests_per_s": "rows run per virtual second: by each batch, or by all "
    "of them together (see scope)",
    "progression.scope": "batch: every batch runs at requests_per_s on its own; account: "
    "requests_per_s is the capacity all running batches share, first come, first served",
    "progression.queue_delay_s": "virtual seconds a batch waits before its rows start",
    "progression.validating_s": "virtual seconds in validating",
    "progression.finalizing_s": "virtual seconds in finalizing",
    "progression.cancelling_s": "virtual seconds in cancelling",
    "batches.completion_window_s": "virtual seconds before an unfinished batch expires",
    "batches.missing_input_file": "an unknown input_file_id at create: a batch that then "
    "fails (what OpenAI was observed to do), or a 404",
    "batches.write_cancelled_rows": "write batch_cancelled lines for rows a cancel stopped",
    "batches.models": "models accepted; none accepts any",
    "batches.row_concurrency": "rows answered at once within a batch",
    "batches.output_expires_after_s": "seconds before output and error files expire",
    "limits.file_max_bytes": "largest upload",
    "limits.batch_file_max_bytes": "largest batch input file",
    "limits.max_requests_per_batch": "requests per batch",
    "limits.max_embedding_inputs": "embedding inputs per batch",
    "limits.max_validation_errors": "validation errors listed for a failed batch",
    "limits.enqueued_token_limit": "enqueued input tokens across unfinished batches (OpenAI "
    "dialect); none is unlimited",
    "faults.row_failure_rate": "share of rows answered with one of row_failure_statuses",
    "faults.row_failure_statuses": "statuses a failing row answers (429 and 500 are retryable)",
    "faults.fail_validation_rate": "share of batches that fail validation",
    "faults.stuck_validating_rate": "share of batches that stay in validating (a stall)",
    "faults.expire_rate": "share of batches that expire part way",
    "faults.api_error_rate": "share of API calls answered with an error instead",
    "faults.api_error_kinds": "what a failing API call does: 500, 429 (with retry-after) or "
    "drop the connection",
    "faults.api_retry_after_ms": "retry-after sent with an injected 429",
    "faults.slow_finalizing_s": "extra virtual seconds in finalizing",
    "realtime.rpm": "requests per minute before 429s; none is unlimited",
    "realtime.tpm": "tokens per minute before 429s; none is unlimited",
    "realtime.latency_base_s": "seconds before every answer",
    "realtime.latency_per_output_token_s": "more seconds per output token",
    "realtime.latency_jitter": "random share added to or taken from the latency "
    "(uniform distribution)",
    "realtime.latency_distribution": "uniform (base and per-token time, +/- jitter) or "
    "lognormal (that time as the mean, with a long tail set by latency_sigma)",
    "realtime.latency_sigma": "lognormal spread: the p99 is about exp(2.33 * sigma) times "
    "the median",
    "realtime.error_rate": "share of realtime calls answered with one of error_kinds",
    "realtime.error_kinds": "what a failing realtime call answers: 429 (at once, with "
    "retry-after), 500 or 503 (after the base latency)",
    "realtime.error_retry_after_s": "retry-after sent with an injected realtime 429",
    "responder.kind": "fake (deterministic bodies), callable (a function of yours) or "
    "forward (an OpenAI-compatible server)",
    "responder.seed": "seeds the fake bodies",
    "responder.callable": "the function, as package.module:function (needs allow_plugins "
    "to be set over HTTP)",
    "responder.forward_url": "base URL (ending in /v1) requests are forwarded to",
    "responder.forward_api_key": "key sent to the forward URL",
    "responder.forward_timeout_s": "seconds a forwarded request may take",
    "responder.output_words": "words in a fake plain-text answer",
    "responder.reasoning_tokens": "reasoning tokens reported per answer",
    "responder.array_items": "preferred item count in schema arrays",
    "responder.schema_max_depth": "nesting depth after which schemas take the shortest path",
    "responder.embedding_dimensions": "embedding size when a request names none",
    "azure.max_files_without_expiry": "files a resource may hold without an expiry",
    "azure.max_files_with_expiry": "files a resource may hold with an expiry set",
    "azure.max_requests_per_batch": "requests per Azure batch",
    "azure.deployments.name": "the deployment's name (what body.model must say)",
    "azure.deployments.type": "GlobalBatch or DataZoneBatch",
}


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in get_args(annotation))
    if origin in (list, tuple, set, dict):
        inner = ", ".join(_type_name(a) for a in get_args(annotation))
        return f"{origin.__name__}[{inner}]"
    if annotation is type(None):
        return "null"
    if annotation is SecretStr:
        return "secret string"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(see below)"
        return f"`{json.dumps(value, default=str)}`"
    if field.default is PydanticUndefined:
        return "(required)"
    if isinstance(field.default, BaseModel):
        return "(see below)"
    return f"`{json.dumps(field.default, default=str)}`"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _meaning(key: str, field: FieldInfo, model_doc: str) -> str:
    name = key.rsplit(".", 1)[-1]
    found = field.description or MEANINGS.get(key)
    if not found and f"``{name}``" in model_doc:
        found = "see above"
    return (found or "").replace("|", "\\|")


def _section(prefix: str, model: type[BaseModel], out: list[str], title: str = "") -> None:
    doc = model.__dict__.get("__doc__") or ""
    title = f"`{title or prefix}`" if prefix else "Top level"
    out.append(f"\n## {title}\n")
    if doc and model is not EmulatorConfig:
        out.append(doc.strip() + "\n")
    out.append("| key | type | default | meaning |")
    out.append("|---|---|---|---|")
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        meaning = _meaning(key, field, doc)
        out.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {meaning} |")
        for sub in _models_in(field.annotation):
            nested.append((key, sub))
    seen: set[tuple[str, type[BaseModel]]] = set()
    for key, sub in nested:
        if (key, sub) in seen:
            continue
        seen.add((key, sub))
        kind = sub.model_fields.get("kind")
        label = f"{key} (kind {json.dumps(kind.default)})" if kind is not None else key
        _section(key, sub, out, label)


def undocumented() -> list[str]:
    """Keys the rendered page leaves without a meaning (a test wants none)."""
    return [
        line.split("`")[1]
        for line in render().splitlines()
        if line.startswith("| `") and line.rstrip().endswith("|  |")
    ]


def render() -> str:
    """The configuration reference as Markdown."""
    out = [_HEAD]
    out.append("Profiles, applied beneath explicit values: " + ", ".join(
        f"`{name}` {json.dumps(values)}" for name, values in PROFILES.items()
    ) + ".")  # fmt: skip
    _section("", EmulatorConfig, out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
