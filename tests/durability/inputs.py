"""The chat input the subprocess durability tests feed to the command line."""

from __future__ import annotations

from pathlib import Path

import batchport as bp


def write_chat_input(path: Path, rows: int) -> Path:
    """``rows`` small chat requests ``k00000``, ``k00001``, … as a JSONL batch file."""
    bp.write_requests(
        path,
        (
            bp.Request.build(f"k{i:05d}", "/v1/chat/completions",
                             {"model": "gpt-4o-mini",
                              "messages": [{"role": "user", "content": f"row {i}"}]})
            for i in range(rows)
        ),
    )  # fmt: skip
    return path
