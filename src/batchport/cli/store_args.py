"""``--home DIR`` and ``--store URL``: which run store a command works on.

``--store`` takes a PostgreSQL URL only (a directory is what ``--home`` is for), and
the two exclude each other. With neither, :func:`~batchport.store.open_store` reads
``BATCHPORT_STORE``, then uses the SQLite store under ``BATCHPORT_HOME``. The URL may
carry a password: nothing here repeats the value given.
"""

from __future__ import annotations

import argparse

__all__ = ["URL_FORMS", "add_store_args", "chosen_store", "store_url"]

URL_FORMS = "postgresql://USER@HOST[:PORT]/DATABASE[?schema=NAME] (or postgres://…)"


def store_url(value: str) -> str:
    """``--store``'s type: a PostgreSQL URL, as given.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse turns it into a usage
            error; the message names the accepted forms, never the value).
    """
    # imported here, only once --store is given: parsing stays free of the store
    from batchport.store.pgschema import SCHEMES

    if value.startswith(SCHEMES):
        return value
    raise argparse.ArgumentTypeError(
        f"expected a PostgreSQL URL, {URL_FORMS}; for the SQLite store's directory use --home DIR"
    )


def add_store_args(p: argparse.ArgumentParser) -> None:
    """``--home DIR`` or ``--store URL``, one or neither."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--home",
        default=None,
        metavar="DIR",
        help="SQLite run store directory (default: $BATCHPORT_STORE, then $BATCHPORT_HOME)",
    )
    group.add_argument(
        "--store",
        type=store_url,
        default=None,
        metavar="URL",
        help="shared PostgreSQL run store, postgresql://USER@HOST[:PORT]/DB[?schema=NAME] "
        "(default: $BATCHPORT_STORE)",
    )


def chosen_store(args: argparse.Namespace) -> str | None:
    """What :func:`~batchport.store.open_store` is given: the URL, the directory, or
    None (the environment decides)."""
    url: str | None = args.store
    return url if url is not None else args.home
