"""Run store commands: ``store migrate``.

The PostgreSQL store creates and upgrades its own schema whenever it opens, so no one
has to run this; it is for operators who would rather migrate by hand, before the
workers start, and see what was done. It prints the schema version before and after.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from batchport.cli import EXIT_OK
from batchport.cli.store_args import URL_FORMS, store_url
from batchport.errors import ConfigError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "store", help="the run store: `store migrate` creates or upgrades its schema"
    )
    actions = p.add_subparsers(dest="store_action", metavar="ACTION")
    actions.required = True
    m = actions.add_parser(
        "migrate", help="create or upgrade the PostgreSQL store's schema; print its version"
    )
    m.add_argument(
        "--store",
        type=store_url,
        default=None,
        metavar="URL",
        help="postgresql://USER@HOST[:PORT]/DB[?schema=NAME] (default: $BATCHPORT_STORE)",
    )
    m.set_defaults(handler=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    from batchport.store.pgschema import SCHEMES, redact

    url: str = args.store or os.environ.get("BATCHPORT_STORE", "")
    if not url.startswith(SCHEMES):
        # the embedded SQLite store has a single user at a time: it migrates on open
        raise ConfigError(
            f"store migrate works on a PostgreSQL store: give --store {URL_FORMS}, "
            "or set BATCHPORT_STORE to one"
        )
    try:
        from batchport.store.postgres import PostgresStore
    except ImportError as exc:  # the optional dependency
        raise ConfigError(
            f"a PostgreSQL run store needs psycopg ({exc.name} is missing): "
            "pip install 'batchport[postgres]'"
        ) from None
    before = _version(url)
    with PostgresStore(url) as store:  # opening it migrates it
        after, schema = store.schema_version, store.schema
    print(f"run store {redact(url)} (schema {schema})")
    print(f"schema version before: {before}" + (" (no tables yet)" if before == 0 else ""))
    print(f"schema version after:  {after}" + (" (up to date)" if after == before else ""))
    return EXIT_OK


def _version(url: str) -> int:
    """The schema version recorded in the store at ``url``, 0 when it has none yet.
    Only reads: the migration itself is the store's, under its lock."""
    import psycopg
    from psycopg import sql

    from batchport.store.pgschema import redact, scrub, split_url

    conninfo, schema = split_url(url)
    has_meta = "SELECT 1 FROM information_schema.tables WHERE table_schema=%s AND table_name=%s"
    read = sql.SQL("SELECT value FROM {}.meta WHERE key='schema_version'")
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as db:
            if db.execute(has_meta, (schema, "meta")).fetchone() is None:
                return 0
            row = db.execute(read.format(sql.Identifier(schema))).fetchone()
    except psycopg.Error as exc:
        raise ConfigError(f"cannot open the run store {redact(url)}: {scrub(exc, url)}") from None
    return 0 if row is None else int(row[0])
