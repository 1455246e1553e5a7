"""The PostgreSQL store's schema, as numbered steps, and the handling of its URL.

The schema's version is the number of steps that have run; :class:`PostgresStore`
runs the missing ones when it opens. A new column is a new step at the end, never an
edit of an old one. The URL may carry a password: :func:`redact` is the only form of
it that goes into a repr, a log line or an error, and :func:`scrub` the only form of
the driver's own message. A password holding an unescaped '/', '?', '#' or '@' would
be read by libpq as part of the host, port or database (and sent to a name server or
a server): :func:`split_url` refuses such a URL before anything is sent.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from batchport.errors import ConfigError
from batchport.logs import redact_url, url_password

__all__ = ["DEFAULT_SCHEMA", "MIGRATIONS", "SCHEMES", "redact", "scrub", "split_url"]

DEFAULT_SCHEMA = "batchport"

#: URL schemes that select this store
SCHEMES = ("postgresql://", "postgres://")

#: schema steps in order
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            backend TEXT NOT NULL,
            provider TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            state TEXT NOT NULL,
            total_rows BIGINT NOT NULL DEFAULT 0,
            options TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            backend_settings TEXT NOT NULL DEFAULT '{}',
            source TEXT)""",
        """CREATE TABLE shards (
            seq BIGSERIAL,
            run_id TEXT NOT NULL REFERENCES runs(id),
            shard_id TEXT NOT NULL,
            parent_id TEXT,
            attempt INTEGER NOT NULL,
            endpoint TEXT NOT NULL,
            model TEXT,
            caller_model TEXT,
            input_key TEXT NOT NULL,
            rows BIGINT NOT NULL,
            bytes BIGINT NOT NULL,
            est_tokens BIGINT NOT NULL,
            content_hash TEXT NOT NULL,
            state TEXT NOT NULL,
            checkpoint TEXT NOT NULL DEFAULT '{}',
            job_id TEXT,
            job_status TEXT,
            job TEXT,
            requeues INTEGER NOT NULL DEFAULT 0,
            cancel_reason TEXT,
            last_error TEXT,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, shard_id))""",
        """CREATE TABLE rows (
            run_id TEXT NOT NULL,
            idx BIGINT NOT NULL,
            custom_id TEXT NOT NULL,
            shard_id TEXT NOT NULL,
            pos BIGINT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            outcome TEXT,
            status_code INTEGER,
            error_code TEXT,
            error_message TEXT,
            result_key TEXT,
            result_offset BIGINT,
            result_length BIGINT,
            input_tokens BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0,
            cached_tokens BIGINT NOT NULL DEFAULT 0,
            reasoning_tokens BIGINT NOT NULL DEFAULT 0,
            settled_at DOUBLE PRECISION,
            cache_write_tokens BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, idx))""",
        "CREATE UNIQUE INDEX rows_custom_id ON rows (run_id, custom_id)",
        "CREATE INDEX rows_shard ON rows (run_id, shard_id, pos)",
        """CREATE TABLE leases (
            run_id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            acquired_at DOUBLE PRECISION NOT NULL,
            renewed_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE blobs (
            id BIGSERIAL PRIMARY KEY,
            key TEXT UNIQUE,
            size BIGINT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE blob_chunks (
            blob_id BIGINT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            data BYTEA NOT NULL,
            PRIMARY KEY (blob_id, seq))""",
    ),
    (
        # shard leases for several workers, wake-ups by webhook, pause, and routes
        "ALTER TABLE runs ADD COLUMN paused_at DOUBLE PRECISION",
        "ALTER TABLE shards ADD COLUMN lease_owner TEXT",
        "ALTER TABLE shards ADD COLUMN lease_since DOUBLE PRECISION",
        "ALTER TABLE shards ADD COLUMN lease_expires DOUBLE PRECISION",
        "ALTER TABLE shards ADD COLUMN woken_at DOUBLE PRECISION",
        "ALTER TABLE rows ADD COLUMN route TEXT",
        "CREATE INDEX shards_job ON shards (job_id)",
        """CREATE TABLE quota (
            run_id TEXT NOT NULL,
            shard_id TEXT NOT NULL,
            key TEXT NOT NULL,
            amount BIGINT NOT NULL,
            taken_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, shard_id))""",
        "CREATE INDEX quota_key ON quota (key)",
    ),
    (
        # what workers look for among every run's shards, without scanning finished ones
        "CREATE INDEX shards_open ON shards (run_id) "
        "WHERE state NOT IN ('reconciled', 'abandoned')",
        "CREATE INDEX shards_leased ON shards (lease_owner) WHERE lease_owner IS NOT NULL",
    ),
)


def redact(url: str) -> str:
    """``url`` with its ``user:password`` part and any password parameter masked (see
    :func:`batchport.logs.redact_url`): everything between ``://`` and the last '@'
    when the password holds an unescaped '/', '?', '#' or '@'."""
    return redact_url(url)


def split_url(url: str) -> tuple[str, str]:
    """``(conninfo, schema)``: our own ``schema`` parameter taken out of the URL.

    Raises:
        ConfigError: the URL's ``user:password`` part holds characters that libpq
            would not read as written (the message never shows the password).
    """
    if _misread(url):
        raise ConfigError(
            f"cannot open the run store {redact(url)}: its user:password part cannot be "
            "read as written; special characters in the password must be percent-encoded "
            "('@' as %40, '/' as %2F, '?' as %3F, '#' as %23, ':' as %3A, '%' as %25)"
        )
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), DEFAULT_SCHEMA)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def _misread(url: str) -> bool:
    """True when an '@' of ``url`` lies where libpq (which ends the ``user:password``
    part at the first '@' or '/') or :func:`urlsplit` (at the first '/', '?' or '#')
    would not find it: in a second '@' of the authority, in the path or the fragment,
    or in the query in anything but a ``name=value`` parameter after a path; or when
    a port is not a number (a password cut at its '/', '?' or '#')."""
    rest = url.partition("://")[2]
    if "@" not in rest:
        return False
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if authority.count("@") > 1:
        return True
    for host in authority.rpartition("@")[2].split(","):
        port = host.rpartition("]")[2] if host.startswith("[") else host
        port = port.rpartition(":")[2] if ":" in port else ""
        if port and not port.isdigit():
            return True
    path = re.split(r"[?#]", tail, maxsplit=1)[0]
    query, _, fragment = tail[len(path) :].partition("#")
    if "@" in path or "@" in fragment:
        return True
    if "@" not in query:
        return False
    return not path or any(
        "@" in item and not re.fullmatch(r"[A-Za-z_]+=[^@]*@.*", item)
        for item in query[1:].split("&")
    )


def scrub(exc: BaseException, url: str) -> str:
    """The driver's message with the URL's password cut out, should libpq repeat it;
    left out altogether when it still holds a piece of the password (a password with an
    unescaped '/', '?', '#' or '@' read as a host, a port or a database)."""
    parts = urlsplit(url)
    secrets = [v for k, v in parse_qsl(parts.query) if k == "password"]
    for password in (url_password(url), parts.password):
        if password:
            secrets += [password, unquote(password)]
    message = str(exc).strip()
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        message = message.replace(secret, "***")
    pieces = {p for s in secrets for p in re.split(r"[/?#@:&=]", s) if len(p) >= 3}
    if any(p in message for p in pieces):
        return "the server's message is left out: it repeats part of the password"
    return message
