"""The collector's on-disk spool of settlements: everything comes back, in row order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from batchport.runner.collect import _Spool
from batchport.store import Settlement


@given(st.lists(st.integers(0, 10**9), unique=True, max_size=300))
def test_the_spool_returns_every_settlement_in_row_order(idx: list[int]) -> None:
    spool = _Spool()
    try:
        made = [
            Settlement(i, "failed", 500, "server_error", "ü" * (i % 7), None, None, None, i % 5)
            for i in idx
        ]
        for s in made:
            spool.append(s)
        back = list(spool)
        assert back == sorted(made, key=lambda s: s.idx)
        assert list(spool) == back  # read twice, same answer
        assert spool.count == len(made)
    finally:
        spool.close()
