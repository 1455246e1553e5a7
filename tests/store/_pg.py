"""The PostgreSQL server the store tests run against, and one fresh schema per test.

The server's URL comes from ``BATCHPORT_TEST_POSTGRES``. Without a server the tests
skip, saying why; under CI (``CI=true``) they fail instead, so a broken set-up cannot
pass as green.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

URL = os.environ.get("BATCHPORT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


@functools.cache
def _missing() -> str | None:
    """Why the server cannot be used, or None."""
    from batchport.store.pgschema import redact

    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'batchport[postgres]')"
    try:
        psycopg.connect(URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {redact(URL)} (BATCHPORT_TEST_POSTGRES): {exc}"
    return None


def require_server() -> None:
    reason = _missing()
    if reason is not None:
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&schema={schema}" if parts.query else f"schema={schema}"
    return urlunsplit(parts._replace(query=query))


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(URL, autocommit=True) as db:
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def fresh_schema() -> Iterator[str]:
    """The URL of a schema no other test uses (the store creates it); dropped after."""
    require_server()
    schema = f"bpt_{uuid.uuid4().hex[:16]}"
    try:
        yield with_schema(URL, schema)
    finally:
        drop_schema(schema)
