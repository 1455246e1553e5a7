"""Run stores: where runs, shards, the ledger and their blobs are kept.

:class:`RunStore` is the seam the runner uses; :class:`SQLiteStore` (``Store``) is the
embedded default under ``BATCHPORT_HOME``, and ``PostgresStore``
(:mod:`batchport.store.postgres`, the ``batchport[postgres]`` extra) the store several
workers share. :func:`open_store` turns what a caller passes (nothing, a directory, a
URL, a store) into a store.
"""

from __future__ import annotations

import os
import sys

from batchport.store.base import (
    DuplicateRow,
    Lease,
    PendingRow,
    RowRecord,
    RunExists,
    RunRecord,
    RunStore,
    Settlement,
    ShardRecord,
    default_home,
    result_key,
    result_prefix,
)
from batchport.store.blobs import BlobStore, LocalBlobs
from batchport.store.pgschema import SCHEMES
from batchport.store.sqlite import SCHEMA_VERSION, SQLiteStore
from batchport.store.states import CancelReason, IllegalTransition, RunState, ShardState

__all__ = [
    "SCHEMA_VERSION",
    "BlobStore",
    "CancelReason",
    "DuplicateRow",
    "IllegalTransition",
    "Lease",
    "LocalBlobs",
    "PendingRow",
    "RowRecord",
    "RunExists",
    "RunRecord",
    "RunState",
    "RunStore",
    "SQLiteStore",
    "Settlement",
    "ShardRecord",
    "ShardState",
    "Store",
    "StoreLike",
    "connection_lost",
    "default_home",
    "open_store",
    "result_key",
    "result_prefix",
]

#: the embedded store, under its historical name
Store = SQLiteStore

StoreLike = RunStore | str | os.PathLike[str] | None


def open_store(store: StoreLike = None) -> tuple[RunStore, bool]:
    """``(store, owned)``: a :class:`RunStore` as given (not owned), or a new store the
    caller owns and closes: a :class:`~batchport.store.postgres.PostgresStore` for a
    ``postgresql://`` or ``postgres://`` URL, else a :class:`SQLiteStore` for a home
    directory. None means ``BATCHPORT_STORE`` (a URL or a directory) when it is set,
    else the SQLite store under ``BATCHPORT_HOME``.

    Raises:
        ConfigError: a PostgreSQL URL without ``batchport[postgres]`` installed, or a
            server that cannot be reached.
    """
    if store is None:
        store = os.environ.get("BATCHPORT_STORE") or None
    if isinstance(store, str) and store.startswith(SCHEMES):
        return _postgres(store), True
    if store is None or isinstance(store, str | os.PathLike):
        return SQLiteStore(store), True
    return store, False


def connection_lost(exc: BaseException) -> bool:
    """True when ``exc`` says the connection to a PostgreSQL store is gone (the server
    ended it, restarted or failed over, or the network dropped): opening the store again
    may cure it. Errors of the statements themselves (a constraint, a timeout, a full
    disk) and every SQLite error are not."""
    psycopg = sys.modules.get("psycopg")  # loaded by any PostgreSQL store
    if psycopg is None:
        return False
    if isinstance(exc, psycopg.InterfaceError):  # used after it was closed
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate  # None: the client saw the connection go, the server said nothing
    # class 08: connection exception; 57P01-57P03: admin or crash shutdown, cannot
    # connect now (a server restarting or a standby being promoted)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _postgres(url: str) -> RunStore:
    try:
        from batchport.store.postgres import PostgresStore
    except ImportError as exc:  # the optional dependency
        from batchport.errors import ConfigError

        raise ConfigError(
            f"a PostgreSQL run store needs psycopg ({exc.name} is missing): "
            "pip install 'batchport[postgres]'"
        ) from None
    return PostgresStore(url)
