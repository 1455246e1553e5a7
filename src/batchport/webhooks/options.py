"""How a run listens for batch webhooks: :class:`WebhookOptions`.

No aiohttp here: the options are built (and checked) before anything is started.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from batchport.errors import ConfigError
from batchport.webhooks.verify import DEFAULT_TOLERANCE_S, WebhookClock, check_secret

__all__ = ["DEFAULT_POLL_FALLBACK_S", "DEFAULT_STORE_CHECK_S", "WebhookOptions"]

#: with webhooks, how long a shard waits between polls when no event comes (seconds)
DEFAULT_POLL_FALLBACK_S = 600.0
#: how often a waiting shard looks at its ``woken_at`` in the store (seconds)
DEFAULT_STORE_CHECK_S = 5.0

OnListening = Callable[[str], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """Webhooks for a run (``bp.run(..., webhooks=WebhookOptions(...))``).

    With ``secret`` (the endpoint's ``whsec_…`` signing secret) the run serves a
    receiver on ``host:port`` at ``path`` for as long as it runs; each verified batch
    event wakes the shard running that batch, which polls its job once at once.
    Without a secret no receiver starts here: another process (``batchport webhooks
    serve --store URL``) records the events in the run store, and the run watches it.

    Either way a shard's status is also polled every ``poll_fallback_s`` seconds, so a
    lost webhook costs latency, never a result; this replaces the run's poll interval
    (and the backend's hint). Waiting shards look at the store every
    ``store_check_s`` seconds of the run's clock (one primary-key read each).
    ``tolerance_s`` bounds a delivery's timestamp against ``clock()`` (unix seconds).
    ``on_listening(url)`` is called once the receiver listens (useful with ``port=0``).

    The repr never shows the secret. Raises :class:`~batchport.errors.ConfigError`
    for a malformed secret or an out-of-range number.
    """

    secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/webhooks"
    poll_fallback_s: float = DEFAULT_POLL_FALLBACK_S
    store_check_s: float = DEFAULT_STORE_CHECK_S
    tolerance_s: float = DEFAULT_TOLERANCE_S
    on_listening: OnListening | None = field(default=None, compare=False)
    clock: WebhookClock = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        if self.secret is not None:
            check_secret(self.secret)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"webhook port {self.port} is not between 0 and 65535")
        if not self.path.startswith("/"):
            raise ConfigError(f"webhook path {self.path!r} must start with '/'")
        if not self.poll_fallback_s > 0 or not self.store_check_s > 0:
            raise ConfigError("poll_fallback_s and store_check_s must be positive seconds")
        if self.tolerance_s < 0:
            raise ConfigError("the webhook timestamp tolerance must not be negative")

    def __repr__(self) -> str:
        secret = "'<set>'" if self.secret is not None else "None"
        return (
            f"WebhookOptions(secret={secret}, host={self.host!r}, port={self.port}, "
            f"path={self.path!r}, poll_fallback_s={self.poll_fallback_s:g}, "
            f"store_check_s={self.store_check_s:g}, tolerance_s={self.tolerance_s:g})"
        )

    @property
    def receives(self) -> bool:
        """Whether the run serves a receiver itself (it has the secret)."""
        return self.secret is not None
