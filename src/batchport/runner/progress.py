"""Progress reporting for long runs.

The engine reports events to a :class:`ProgressSink`. Standard logging always
happens underneath (logger ``batchport.runner``); the rich display is only used on a
terminal and can be turned off with ``progress=False``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from rich.live import Live
from rich.table import Table

__all__ = ["NullProgress", "ProgressSink", "RichProgress", "ShardView", "choose_progress"]


@dataclass(slots=True)
class ShardView:
    shard_id: str
    rows: int
    status: str = "planned"
    completed: int = 0
    failed: int = 0


class ProgressSink(Protocol):
    def start(self, run_id: str, total_rows: int, settled: int) -> None: ...
    def shard(self, view: ShardView) -> None: ...
    def settled(self, rows: int) -> None: ...
    def note(self, text: str) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def start(self, run_id: str, total_rows: int, settled: int) -> None:
        pass

    def shard(self, view: ShardView) -> None:
        pass

    def settled(self, rows: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def finish(self) -> None:
        pass


class RichProgress:
    """A live table: one line per active shard, rows settled of total, elapsed, ETA."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._shards: dict[str, ShardView] = {}
        self._notes: list[str] = []
        self._run_id = ""
        self._total = 0
        self._done = 0
        self._done_at_start = 0
        self._t0 = time.monotonic()
        self._live: Live | None = None

    def start(self, run_id: str, total_rows: int, settled: int) -> None:
        self._run_id, self._total = run_id, total_rows
        self._done = self._done_at_start = settled
        self._t0 = time.monotonic()
        self._live = Live(self._render(), console=self._console, refresh_per_second=4)
        self._live.start()

    def shard(self, view: ShardView) -> None:
        self._shards[view.shard_id] = view
        self._refresh()

    def settled(self, rows: int) -> None:
        self._done += rows
        self._refresh()

    def note(self, text: str) -> None:
        self._notes = [*self._notes[-4:], text]
        self._refresh()

    def finish(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Table:
        elapsed = time.monotonic() - self._t0
        table = Table(title=f"run {self._run_id}: {self._done:,}/{self._total:,} rows settled")
        for col in ("shard", "status", "completed", "failed", "rows"):
            table.add_column(col)
        for v in list(self._shards.values())[-20:]:
            table.add_row(v.shard_id, v.status, f"{v.completed:,}", f"{v.failed:,}", f"{v.rows:,}")
        table.caption = f"elapsed {_fmt(elapsed)}  eta {self._eta(elapsed)}" + "".join(
            f"\n{n}" for n in self._notes
        )
        return table

    def _eta(self, elapsed: float) -> str:
        progressed = self._done - self._done_at_start
        remaining = self._total - self._done
        if progressed <= 0 or remaining <= 0:
            return "-"
        return _fmt(elapsed / progressed * remaining)


def _fmt(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def choose_progress(progress: bool | ProgressSink | None) -> ProgressSink:
    """``None``: rich on a terminal, else nothing; ``False``: nothing; ``True``: rich."""
    if progress is None:
        return RichProgress() if sys.stderr.isatty() else NullProgress()
    if progress is True:
        return RichProgress()
    if progress is False:
        return NullProgress()
    return progress
