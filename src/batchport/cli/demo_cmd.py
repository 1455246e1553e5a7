"""``batchport demo``: a small structured-output batch, end to end on the emulator.

Twelve product reviews (some not in English, some with literal braces) become
``responses.parse`` requests with a ``Sentiment`` output type. The batch file is written,
validated under every provider profile and summarised; then the same requests run as a
batch on the embedded emulator, with some rows made to fail (429 and 500, which are
retried, and a 400, which is not), and the reconciled results are printed as a table.
``--plan-only`` stops after the plan.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import BaseModel, Field

from batchport.builder import BatchBuilder
from batchport.cli import EXIT_OK, EXIT_PROBLEMS
from batchport.jsonl import WriteStats
from batchport.limits import PROVIDERS
from batchport.runner import Run
from batchport.validate import ValidationReport, validate_file

__all__ = ["DEMO_MODEL", "REVIEWS", "Sentiment", "build_demo_batch", "register", "run"]

DEMO_MODEL = "gpt-4o-mini"
FILE_NAME = "sentiment.jsonl"
INSTRUCTIONS = "Classify the sentiment of the product review. Quote the phrases that decided it."

REVIEWS: tuple[str, ...] = (
    "Battery lasts two full days. Best phone I have owned.",
    "Stopped charging after a week; support never answered.",
    "Très bon rapport qualité-prix, mais la coque raye facilement.",
    "Das Display ist großartig, der Lautsprecher leider blechern.",
    "画面がとても綺麗で、動作もサクサクです。",
    "Отличные наушники, но через месяц отвалилась дужка.",
    'The app showed {"error": "quota"} every time I synced. Useless.',
    "Setup wizard asked for {ssid} and {password} literally, braces and all. Fixed in 2.1.",
    "It's fine. Does what it says, nothing more. 🙂",
    "Arrived broken 💔 and the replacement too.",
    "¡Excelente! Llegó antes de lo previsto y funciona perfecto.",
    "Meh — {braces} in the manual, typos everywhere, but the kettle boils.",
)


class Sentiment(BaseModel):
    """The structured output each demo request asks for."""

    label: Literal["positive", "negative", "mixed", "neutral"]
    confidence: float = Field(ge=0, le=1, description="0 to 1")
    evidence: list[str] = Field(description="phrases from the review that decided the label")


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """What the demo built: the written file and its report under each provider."""

    stats: WriteStats
    reports: Mapping[str, ValidationReport]
    output_types: int


def register(subparsers: Any) -> None:
    """Add the ``demo`` command to the ``batchport`` parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="build, validate and plan a small sentiment batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="write the batch file into DIR and keep it (default: a temporary directory)",
    )
    parser.add_argument(
        "--plan-only", action="store_true", help="build, validate and plan; send nothing"
    )
    parser.set_defaults(handler=run)


def build_demo_batch(model: str = DEMO_MODEL) -> BatchBuilder:
    """One ``responses.parse`` request per review, ids ``review-01``..``review-12``."""
    builder = BatchBuilder()
    for number, review in enumerate(REVIEWS, 1):
        builder.responses.parse(
            custom_id=f"review-{number:02d}",
            model=model,
            instructions=INSTRUCTIONS,
            input=[{"role": "user", "content": [{"type": "input_text", "text": review}]}],
            text_format=Sentiment,
            max_output_tokens=200,
        )
    return builder


def make_plan(builder: BatchBuilder, directory: Path) -> DemoPlan:
    """Write ``builder`` into ``directory`` and validate it under every provider."""
    stats = builder.write(directory / FILE_NAME)
    reports = {name: validate_file(stats.path, provider=name) for name in PROVIDERS}
    return DemoPlan(stats=stats, reports=reports, output_types=len(builder.output_models))


def render_plan(plan: DemoPlan) -> str:
    """The plan as plain text, one fact per line."""
    first = next(iter(plan.reports.values()))
    rows = [
        f"batch file    {plan.stats.path}",
        f"rows          {first.requests:,}",
        f"endpoint      {first.endpoint or ', '.join(first.endpoints)}",
        f"model         {first.model or ', '.join(first.models)}",
        f"size          {plan.stats.bytes:,} bytes (largest line {first.max_line_bytes:,} bytes)",
        f"tokens        ~{first.estimated_input_tokens:,} input ({first.tokenizer}), "
        f"at most {first.estimated_output_tokens:,} output",
        f"parse back    {plan.output_types} of {first.requests} requests carry an output type",
        f"sha256        {plan.stats.sha256[:16]}…",
        "",
        f"{'provider':<14} {'max rows':>9} {'max size':>9} {'files':>6}  validation",
    ]
    for name, report in plan.reports.items():
        profile = PROVIDERS[name]
        files = profile.min_files(report.requests, report.bytes, report.embedding_inputs)
        verdict = "OK" if report.ok else f"{report.problem_count} problem(s)"
        size_mb = profile.max_file_bytes // (1024 * 1024)
        rows.append(
            f"{profile.title:<14} {profile.max_requests:>9,} {size_mb:>6} MB {files:>6}  {verdict}"
        )
        rows.extend(f"    {problem}" for problem in report.problems)
    if PROVIDERS["azure"].model_is_deployment:
        rows.append(f"(on Azure, model {first.model!r} must name a global batch deployment)")
    return "\n".join(rows)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Build, write, validate and print; exit 0 when every profile validates clean."""
    stream = out if out is not None else sys.stdout
    builder = build_demo_batch()
    stream.write(
        f"batchport demo: {len(builder)} product reviews -> Sentiment "
        f"(responses.parse, text_format={Sentiment.__name__})\n\n"
    )
    if args.out is not None:
        directory = Path(args.out)
        directory.mkdir(parents=True, exist_ok=True)
        plan = make_plan(builder, directory)
        stream.write(render_plan(plan) + "\n")
    else:
        with tempfile.TemporaryDirectory(prefix="batchport-demo-") as tmp:
            plan = make_plan(builder, Path(tmp))
            stream.write(render_plan(plan) + "\n")
            stream.write("(temporary file, removed on exit; pass --out DIR to keep it)\n")
    clean = all(report.ok for report in plan.reports.values())
    if not clean:
        return EXIT_PROBLEMS
    if not getattr(args, "plan_only", False):
        with tempfile.TemporaryDirectory(prefix="batchport-demo-home-") as home:
            result = asyncio.run(run_demo(builder, Path(args.out or home)))
            stream.write("\n" + render_results(result) + "\n")
    return EXIT_OK


#: The demo's stand-in for a model: a review's label follows from the words it holds.
POSITIVE = ("best", "excelente", "perfecto", "großartig", "綺麗", "отличные", "bon", "fine",
            "boils", "fixed")  # fmt: skip
NEGATIVE = ("stopped", "never", "broken", "💔", "useless", "blechern", "raye", "отвалилась",
            "typos", "meh")  # fmt: skip


def keyword_sentiment(text: str) -> Sentiment:
    """positive or negative by the words found, mixed when both, neutral when none."""
    low = text.lower()
    good = [w for w in POSITIVE if w in low]
    bad = [w for w in NEGATIVE if w in low]
    label = "mixed" if good and bad else "positive" if good else "negative" if bad else "neutral"
    confidence = {"mixed": 0.6, "neutral": 0.5}.get(label, 0.9)
    return Sentiment(label=label, confidence=confidence, evidence=good + bad)  # type: ignore[arg-type]


def demo_responder(request: Any) -> dict[str, Any]:
    """The emulator's answer to one demo request: a Responses API body whose output is
    :func:`keyword_sentiment` of the review (synthetic, and saying so by its rule)."""
    texts = [
        part.get("text", "")
        for item in request.body.get("input") or ()
        for part in (item.get("content") or ())
        if isinstance(part, dict)
    ]
    answer = keyword_sentiment(" ".join(texts)).model_dump_json()
    message = {"type": "message", "id": "msg_demo", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": answer, "annotations": []}]}  # fmt: skip
    return {"id": f"resp_{request.custom_id}", "object": "response", "created_at": 0,
            "status": "completed", "model": request.body.get("model"), "output": [message],
            "usage": {"input_tokens": 40, "output_tokens": 20, "total_tokens": 60}}  # fmt: skip


#: Seeded faults for the demo: some rows answer 429 or 500 (retried) or 400 (not).
DEMO_EMULATOR = {
    "seed": 3,
    "faults": {"row_failure_rate": 0.3, "row_failure_statuses": [429, 500, 400]},
}


async def run_demo(builder: BatchBuilder, home: Path) -> Run:
    """Run ``builder`` as a batch on the embedded emulator (partial failures included)."""
    from batchport.backends.emulator import EmulatorBackend
    from batchport.runner import PollPolicy, run

    async with EmulatorBackend(DEMO_EMULATOR, responder=demo_responder) as backend:
        return await run(
            builder,
            backend=backend,
            home=home,
            poll=PollPolicy(interval=0.05, max_interval=0.5),
            max_attempts=3,
        )


def render_results(result: Run) -> str:
    """One line per review: its text, outcome, attempts, and the parsed label or error."""
    rows = [
        f"run {result.id} on the embedded emulator: SYNTHETIC answers (a review is positive or",
        "negative by the words it holds, mixed with both, neutral with none); some rows were",
        "made to fail with 429/500 (retried: tries > 1) or 400 (not retried)",
        "",
        f"{'custom_id':<10} {'review':<34} {'outcome':<9} {'tries':>5}  result",
    ]
    for r, review in zip(result.results(), REVIEWS, strict=True):
        if r.parsed is not None:
            detail = f"{r.parsed.label} ({r.parsed.confidence:.2f}) {', '.join(r.parsed.evidence)}"
        elif r.error is not None:
            detail = f"HTTP {r.status_code}: {r.error.message}"
        else:
            detail = r.text or ""
        text = review if len(review) <= 34 else review[:33] + "…"
        rows.append(
            f"{r.custom_id:<10} {text:<34} {r.outcome.value:<9} {r.attempts:>5}  {detail[:60]}"
        )
    retried = sum(1 for r in result.results() if r.retried)
    rows.append(f"{retried} row(s) needed more than one try")
    rows.append(result.summary())
    return "\n".join(rows)
