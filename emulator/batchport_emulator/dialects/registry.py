"""Which dialects exist, and which one serves a path.

:data:`FACTORIES` is the one table of dialects; each is built once per emulator from
a :class:`~.rules.DialectContext` and declares its own URL prefixes. A path belongs to
the dialect with the *longest* prefix that matches whole path segments, so a specific
prefix such as ``/v1/messages`` can sit inside another dialect's ``/v1``; adding a
dialect is one entry here plus its module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from batchport_emulator.dialects import Dialect
from batchport_emulator.dialects.anthropic import AnthropicDialect
from batchport_emulator.dialects.azure import AzureDialect
from batchport_emulator.dialects.gemini import GeminiDialect
from batchport_emulator.dialects.openai import OpenAIDialect
from batchport_emulator.dialects.rules import DialectContext

T = TypeVar("T")
DialectFactory = Callable[[DialectContext], Dialect]

#: Every dialect the emulator speaks; the first renders errors outside all prefixes.
FACTORIES: tuple[DialectFactory, ...] = (
    OpenAIDialect,
    AzureDialect,
    AnthropicDialect,
    GeminiDialect,
)


class PrefixTable(Generic[T]):
    """URL prefix -> value; the longest prefix matching whole path segments wins.

    Raises ``ValueError`` for a prefix given twice or not of the form ``/a[/b...]``.
    """

    def __init__(self, entries: Iterable[tuple[str, T]]) -> None:
        table: dict[str, T] = {}
        for prefix, value in entries:
            if not prefix.startswith("/") or prefix.endswith("/"):
                raise ValueError(f"a prefix starts with '/' and does not end with one: {prefix!r}")
            if prefix in table:
                raise ValueError(f"prefix {prefix!r} registered twice")
            table[prefix] = value
        self._entries = sorted(table.items(), key=lambda e: len(e[0]), reverse=True)

    def match(self, path: str) -> T | None:
        """The value of the longest prefix equal to ``path`` or to its start up to a '/'."""
        for prefix, value in self._entries:
            if path == prefix or path.startswith(prefix + "/"):
                return value
        return None


class Dialects:
    """The dialects of one emulator, by name and by path; the first is the default."""

    def __init__(self, dialects: Sequence[Dialect]) -> None:
        if not dialects:
            raise ValueError("an emulator needs at least one dialect")
        self._by_name = {d.name: d for d in dialects}
        if len(self._by_name) != len(dialects):
            raise ValueError("dialect names must be unique")
        self._paths = PrefixTable((p, d) for d in dialects for p in d.prefixes)
        self.default = dialects[0]

    def __getitem__(self, name: str) -> Dialect:
        """The dialect a stored file or batch names; raises ``KeyError`` if unknown."""
        return self._by_name[name]

    def __iter__(self) -> Iterator[Dialect]:
        return iter(self._by_name.values())

    def for_path(self, path: str) -> Dialect | None:
        """The dialect serving ``path``, or ``None`` outside every dialect's prefixes."""
        return self._paths.match(path)

    def clear(self) -> None:
        """Make every dialect's rules forget their files and batches."""
        for dialect in self:
            dialect.rules.clear()


def build_dialects(
    context: DialectContext, factories: Iterable[DialectFactory] = FACTORIES
) -> Dialects:
    """One instance of each dialect in ``factories``, sharing ``context``."""
    return Dialects([factory(context) for factory in factories])
