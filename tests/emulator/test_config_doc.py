"""docs/emulator-config.md is the configuration model written out: it cannot drift."""

from __future__ import annotations

from pathlib import Path

from batchport_emulator.config_doc import render, undocumented

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator-config.md"


def test_every_key_says_what_it_does() -> None:
    assert undocumented() == [], "add a description (or a MEANINGS entry) for these keys"


def test_the_committed_page_matches_the_model() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "regenerate: python -m batchport_emulator.config_doc > docs/emulator-config.md"
    )
