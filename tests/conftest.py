"""Test-suite settings shared by every directory."""

from __future__ import annotations

import os

from hypothesis import settings

# No per-example deadline: a loaded 2-core machine must not turn slowness into failures.
settings.register_profile("dev", deadline=None)
# CI replays the same examples on every run, so a red build is reproducible; new
# examples are explored in development runs.
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
