"""Typed configuration of the emulator (pydantic v2), with profiles and file loading.

One :class:`EmulatorConfig` describes a whole emulator: where it listens, how
fast its clock runs, how batches progress, which faults it injects, the
realtime latency and rate limits, and the responder. It is loadable from JSON or
TOML (:meth:`EmulatorConfig.from_file`) and patched at run time through
``PATCH /_emulator/config`` (:meth:`EmulatorConfig.merged`).

Profiles are named starting points applied beneath explicit values:
``instant`` (the default) finishes batches as fast as the machine allows;
``realistic`` uses delays shaped like the real service's, on a clock running
60x faster than real time.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from batchport_emulator.anthropic.config import AnthropicConfig
from batchport_emulator.azure.config import AzureConfig
from batchport_emulator.gemini.config import GeminiConfig
from batchport_emulator.responders import ResponderConfig

DAY_S = 86_400
MB = 1024 * 1024


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ClockConfig(_Model):
    scale: float = Field(
        default=1.0, ge=0, description="virtual seconds per real second; 0 freezes"
    )


class ImmediateProgression(_Model):
    """Every stage ends as soon as the work is done."""

    kind: Literal["immediate"] = "immediate"


class AfterPollsProgression(_Model):
    """Each stage lasts ``polls`` status reads of that batch; rows are released in step."""

    kind: Literal["after_polls"] = "after_polls"
    polls: int = Field(default=2, ge=1)


class ThroughputProgression(_Model):
    """Stages take virtual time; rows run at ``requests_per_s`` after a queue delay.

    ``scope`` says whose rate that is: ``batch`` (each batch runs at it on its own) or
    ``account`` (it is the whole emulator's batch capacity, shared by its running
    batches first come, first served, so splitting rows into more batches does not
    finish them sooner).
    """

    kind: Literal["throughput"] = "throughput"
    requests_per_s: float = Field(default=10.0, gt=0)
    scope: Literal["batch", "account"] = "batch"
    queue_delay_s: float = Field(default=0.0, ge=0)
    validating_s: float = Field(default=1.0, ge=0)
    finalizing_s: float = Field(default=1.0, ge=0)
    cancelling_s: float = Field(default=5.0, ge=0)


Progression = Annotated[
    ImmediateProgression | AfterPollsProgression | ThroughputProgression,
    Field(discriminator="kind"),
]

ApiFaultKind = Literal["500", "429", "drop"]


def _default_row_statuses() -> list[Literal[400, 429, 500]]:
    return [500, 429, 400]


def _default_api_kinds() -> list[ApiFaultKind]:
    return ["500", "429"]


class FaultConfig(_Model):
    """Injected failures; every draw is a pure function of the config ``seed`` and stable keys."""

    row_failure_rate: float = Field(default=0.0, ge=0, le=1)
    row_failure_statuses: list[Literal[400, 429, 500]] = Field(
        default_factory=_default_row_statuses, min_length=1
    )
    fail_validation_rate: float = Field(default=0.0, ge=0, le=1)
    stuck_validating_rate: float = Field(default=0.0, ge=0, le=1)
    expire_rate: float = Field(default=0.0, ge=0, le=1)
    expire_progress: float = Field(
        default=0.5, ge=0, le=1, description="rows done before it stalls"
    )
    api_error_rate: float = Field(default=0.0, ge=0, le=1)
    api_error_kinds: list[ApiFaultKind] = Field(default_factory=_default_api_kinds, min_length=1)
    api_retry_after_ms: int = Field(default=10, ge=0)
    slow_finalizing_s: float = Field(default=0.0, ge=0)
    webhook_drop_rate: float = Field(
        default=0.0, ge=0, le=1, description="share of webhook deliveries never sent"
    )
    webhook_delay_rate: float = Field(
        default=0.0, ge=0, le=1, description="share of webhook deliveries sent webhook_delay_s late"
    )
    webhook_delay_s: float = Field(
        default=60.0,
        ge=0,
        description="virtual seconds a delayed delivery waits; also the longest a reordered one "
        "is held",
    )
    webhook_duplicate_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of webhook deliveries sent twice (same webhook-id and body)",
    )
    webhook_reorder_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of webhook deliveries held until the next event to the same URL "
        "has gone out (or webhook_delay_s has passed)",
    )


class LimitsConfig(_Model):
    file_max_bytes: int = Field(default=512 * MB, ge=1)
    batch_file_max_bytes: int = Field(default=200 * MB, ge=1)
    max_requests_per_batch: int = Field(default=50_000, ge=1)
    max_embedding_inputs: int = Field(default=50_000, ge=1)
    max_validation_errors: int = Field(default=1_000, ge=1)
    enqueued_token_limit: int | None = Field(default=None, ge=1)


class BatchConfig(_Model):
    completion_window_s: float = Field(default=DAY_S, gt=0)
    missing_input_file: Literal["fail_batch", "not_found"] = "fail_batch"
    write_cancelled_rows: bool = True
    models: list[str] | None = None
    row_concurrency: int = Field(default=4, ge=1, le=1024)
    output_expires_after_s: int = Field(default=30 * DAY_S, ge=1)


RealtimeErrorKind = Literal["429", "500", "503"]


def _default_realtime_error_kinds() -> list[RealtimeErrorKind]:
    return ["429", "500", "503"]


class RealtimeConfig(_Model):
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    latency_base_s: float = Field(default=0.0, ge=0)
    latency_per_output_token_s: float = Field(default=0.0, ge=0)
    latency_jitter: float = Field(default=0.0, ge=0, le=1)
    latency_distribution: Literal["uniform", "lognormal"] = "uniform"
    latency_sigma: float = Field(default=0.0, ge=0, le=3)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_kinds: list[RealtimeErrorKind] = Field(
        default_factory=_default_realtime_error_kinds, min_length=1
    )
    error_retry_after_s: float = Field(default=1.0, ge=0)


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def url_host_allowed(url: str, allowed: Sequence[str]) -> bool:
    """Whether webhooks may go to ``url``: http(s) to a loopback host or one in ``allowed``
    (``"*"`` allows any)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if "*" in allowed or host in LOOPBACK_HOSTS or host in {h.lower() for h in allowed}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookConfig(_Model):
    """Signed webhooks sent when a batch reaches a terminal state (OpenAI, Azure and Gemini
    dialects; Anthropic has none). Deliveries go only to loopback hosts and those in
    ``allowed_hosts``; non-2xx answers and connection errors are retried with exponential
    backoff on the virtual clock. ``GET /_emulator/webhooks`` lists every delivery."""

    urls: list[str] = Field(
        default_factory=list, description="endpoints every terminal batch event is POSTed to"
    )
    secret: SecretStr | None = Field(
        default=None,
        description="signing secret, whsec_ followed by base64; none sends unsigned events",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="host names webhooks may go to besides loopback; '*' any (start-up only)",
    )
    max_attempts: int = Field(default=5, ge=1, le=100, description="attempts per delivery")
    backoff_s: float = Field(
        default=5.0, ge=0, description="virtual seconds before the first retry; doubles each time"
    )
    backoff_max_s: float = Field(
        default=3600.0, ge=0, description="longest virtual wait between two attempts"
    )
    timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="real seconds one attempt may take"
    )

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and signing_key(value) is None:
            raise ValueError("must be 'whsec_' followed by non-empty base64")
        return value

    @model_validator(mode="after")
    def _check_urls(self) -> WebhookConfig:
        for url in self.urls:
            if not url_host_allowed(url, self.allowed_hosts):
                raise ValueError(
                    f"webhook URL {url[:200]!r} is not an http(s) URL on a loopback host or "
                    "one of webhooks.allowed_hosts"
                )
        return self


def signing_key(secret: SecretStr) -> bytes | None:
    """The HMAC key of a ``whsec_`` secret (its base64-decoded tail), or ``None`` if invalid."""
    raw = secret.get_secret_value()
    if not raw.startswith("whsec_"):
        return None
    try:
        key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except ValueError:
        return None
    return key or None


PROFILES: dict[str, dict[str, Any]] = {
    "instant": {},
    "realistic": {
        "clock": {"scale": 60.0},
        "progression": {
            "kind": "throughput",
            "requests_per_s": 5.0,
            "queue_delay_s": 30.0,
            "validating_s": 5.0,
            "finalizing_s": 30.0,
            "cancelling_s": 60.0,
        },
        "realtime": {
            "latency_base_s": 0.4,
            "latency_per_output_token_s": 0.01,
            "latency_jitter": 0.2,
            "rpm": 500,
            "tpm": 200_000,
        },
    },
}


class EmulatorConfig(_Model):
    """Everything an emulator needs. Profile defaults apply beneath given values."""

    # errors never echo the input: it may hold a key or the webhook signing secret
    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)

    profile: Literal["instant", "realistic"] = "instant"
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    api_keys: list[SecretStr] = Field(default_factory=list)
    data_dir: Path | None = None
    seed: int = 0
    id_seed: int | None = None
    clock: ClockConfig = Field(default_factory=lambda: ClockConfig())
    progression: Progression = Field(default_factory=lambda: ImmediateProgression())
    batches: BatchConfig = Field(default_factory=lambda: BatchConfig())
    limits: LimitsConfig = Field(default_factory=lambda: LimitsConfig())
    faults: FaultConfig = Field(default_factory=lambda: FaultConfig())
    realtime: RealtimeConfig = Field(default_factory=lambda: RealtimeConfig())
    responder: ResponderConfig = Field(default_factory=lambda: ResponderConfig())
    azure: AzureConfig = Field(default_factory=lambda: AzureConfig())
    anthropic: AnthropicConfig = Field(default_factory=lambda: AnthropicConfig())
    gemini: GeminiConfig = Field(default_factory=lambda: GeminiConfig())
    webhooks: WebhookConfig = Field(default_factory=lambda: WebhookConfig())

    # -- control-plane security (start-up only: PATCH /_emulator/config refuses them) --
    control_key: SecretStr | None = Field(
        default=None,
        description="key the /_emulator endpoints require (default: any of api_keys, if any)",
    )
    allow_plugins: bool = Field(
        default=False,
        description="let PATCH /_emulator/config name callables to import and forward targets",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host/Origin names accepted besides loopback and the bound host; '*' any",
    )
    read_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description=(
            "real seconds a connection may sit idle or take to send a request's headers "
            "before it is closed, and a body may go quiet before a 408 (uploads must "
            "also average 16 KiB/s)"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            profile = data.get("profile", "instant")
            if isinstance(profile, str) and profile in PROFILES:
                return deep_merge(PROFILES[profile], data)
        return data

    @classmethod
    def from_file(cls, path: str | Path) -> EmulatorConfig:
        """Load a ``.json`` or ``.toml`` file; raises ``ValueError`` naming the file."""
        path = Path(path)
        try:
            text = path.read_bytes()
            data = tomllib.loads(text.decode()) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read emulator config: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValueError as exc:
            raise ValueError(f"{path}: invalid emulator config: {exc}") from exc

    def merged(self, patch: Mapping[str, Any]) -> EmulatorConfig:
        """A new config with ``patch`` deep-merged in; raises pydantic's ``ValidationError``.

        A patch that names a ``profile`` starts from that profile's defaults instead
        of from the current values.
        """
        base: dict[str, Any] = {} if "profile" in patch else self.model_dump()
        return type(self).model_validate(deep_merge(base, patch))

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready view with secrets masked."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``patch`` into a copy of ``base``; mappings merge, others replace."""
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = deep_merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def coerce_config(config: EmulatorConfig | Mapping[str, Any] | None) -> EmulatorConfig:
    """Accept a config, a mapping to validate, or ``None`` for the defaults."""
    if config is None:
        return EmulatorConfig()
    if isinstance(config, EmulatorConfig):
        return config
    return EmulatorConfig.model_validate(config)
