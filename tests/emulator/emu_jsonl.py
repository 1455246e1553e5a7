"""Helpers that build batch input files for the emulator tests."""

from __future__ import annotations

import json
from typing import Any


def chat_row(i: int | str, content: str = "hello", model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "custom_id": f"r{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": f"{content} {i}"}]},
    }


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def chat_file(n: int, **kwargs: Any) -> bytes:
    return jsonl([chat_row(i, **kwargs) for i in range(n)])


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]
