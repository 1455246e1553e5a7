"""Run stores: where runs, shards, the ledger and their blobs are kept.

:class:`RunStore` is the seam the runner uses; :class:`SQLiteStore` (``Store``) is the
embedded default under ``BATCHPORT_HOME``. :func:`open_store` turns what a caller
passes (nothing, a directory, a store) into a store.
"""

from __future__ import annotations

import os

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
)
from batchport.store.blobs import BlobStore, LocalBlobs
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
    "default_home",
    "open_store",
]

#: the embedded store, under its historical name
Store = SQLiteStore

StoreLike = RunStore | str | os.PathLike[str] | None


def open_store(store: StoreLike = None) -> tuple[RunStore, bool]:
    """``(store, owned)``: a :class:`RunStore` as given (not owned), or a new
    :class:`SQLiteStore` for a home directory (None: ``BATCHPORT_HOME``), owned by the
    caller, who closes it."""
    if store is None or isinstance(store, str | os.PathLike):
        return SQLiteStore(store), True
    return store, False
