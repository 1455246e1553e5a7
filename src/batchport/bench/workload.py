"""Bench workloads: generated chat requests of a chosen size, or a sample of a file."""

from __future__ import annotations

import itertools
import os
import random
from dataclasses import dataclass

from batchport.errors import InputError
from batchport.jsonl import read_requests
from batchport.requests import Endpoint, Request
from batchport.tokens import estimate_input_tokens

__all__ = ["Workload", "generate", "load", "output_words_for"]

# The emulator's fake answers average about 1.62 tokens a word (its word list, four
# characters a token); used to size answers to the requested output tokens.
_TOKENS_PER_WORD = 1.62
_WORDS = [
    "batch",
    "throughput",
    "latency",
    "request",
    "answer",
    "model",
    "token",
    "window",
    "limit",
    "queue",
    "result",
    "review",
    "product",
    "customer",
    "summary",
    "report",
    "quality",
    "price",
    "order",
    "delivery",
    "support",
]


@dataclass(frozen=True, slots=True)
class Workload:
    """Requests to bench, and what they are, for the report.

    ``output_tokens`` is the intended answer length (tokens); the emulator is told to
    answer at about that length. ``source`` is ``"generated"`` or the file path.
    """

    requests: list[Request]
    source: str
    prompt_tokens: int
    output_tokens: int
    model: str

    @property
    def n(self) -> int:
        return len(self.requests)


def output_words_for(output_tokens: int) -> int:
    """Words the emulator's fake answers need for about ``output_tokens`` tokens."""
    return max(1, min(4096, round(output_tokens / _TOKENS_PER_WORD)))


def _prompt(i: int, tokens: int, rng: random.Random) -> str:
    head = f"Request {i}: write about the following. "
    words: list[str] = []
    length = len(head)
    while length < tokens * 4:  # about four characters a token
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return head + " ".join(words)


def generate(
    n: int,
    *,
    prompt_tokens: int = 200,
    output_tokens: int = 2000,
    model: str = "gpt-4o-mini",
    seed: int = 0,
) -> Workload:
    """``n`` chat requests with prompts of about ``prompt_tokens`` tokens, each asking for
    up to 10% more than ``output_tokens`` (``max_tokens``), so answers of the intended
    length are not cut.

    Raises:
        InputError: a size is not positive.
    """
    if n < 1 or prompt_tokens < 1 or output_tokens < 1:
        raise InputError("--n, --prompt-tokens and --output-tokens must be positive", rule="bench")
    rng = random.Random(seed)
    cap = output_tokens + output_tokens // 10 + 16
    reqs = [
        Request.build(
            f"bench-{i}",
            Endpoint.CHAT_COMPLETIONS,
            {
                "model": model,
                "messages": [{"role": "user", "content": _prompt(i, prompt_tokens, rng)}],
                "max_tokens": cap,
            },
        )
        for i in range(n)
    ]
    return Workload(reqs, "generated", prompt_tokens, output_tokens, model)


def load(
    path: str | os.PathLike[str], *, sample: int | None = None, output_tokens: int = 2000
) -> Workload:
    """The first ``sample`` requests of a JSONL batch file (all of them when None).

    Raises:
        InputError: the file cannot be read or a line is not a request (names file and line).
    """
    source = read_requests(path)
    reqs = list(itertools.islice(source, sample) if sample is not None else source)
    if not reqs:
        raise InputError("the workload file holds no requests", path=str(path), rule="bench")
    prompt = sum(estimate_input_tokens(r.body, r.url) for r in reqs) // len(reqs)
    models = {r.model for r in reqs}
    model = models.pop() if len(models) == 1 else "mixed"
    return Workload(reqs, str(path), prompt, output_tokens, str(model))
