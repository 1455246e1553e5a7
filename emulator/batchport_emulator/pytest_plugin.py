"""pytest plugin: a running emulator as the ``batch_emulator`` fixture.

Registered under the ``pytest11`` entry point, so any project that installs
batchport gets the fixtures without a ``conftest.py``::

    def test_pipeline(batch_emulator):
        client = OpenAI(base_url=batch_emulator.base_url, api_key="test")
        ...

The emulator's configuration comes, in order of precedence, from indirect
parametrization (``@pytest.mark.parametrize("batch_emulator", [cfg],
indirect=True)``) or from a ``batch_emulator_config`` fixture that a test module
or ``conftest.py`` overrides. ``cfg`` may be an ``EmulatorConfig``, a mapping
(validated into one) or ``None`` for the defaults (the ``instant`` profile).

Imports of the emulator happen inside the fixture so that loading the plugin
costs nothing for test sessions that never use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from batchport_emulator.server import EmulatorThread


@pytest.fixture
def batch_emulator_config() -> Any:
    """Configuration for ``batch_emulator``; override it to change the defaults.

    Returns ``None`` (the ``instant`` profile), an ``EmulatorConfig`` or a mapping.
    """
    return None


@pytest.fixture
def batch_emulator(
    request: pytest.FixtureRequest, batch_emulator_config: Any
) -> Iterator[EmulatorThread]:
    """A running emulator on a loopback port, stopped when the test ends.

    Exposes ``.url``, ``.base_url`` (for ``OpenAI(base_url=...)``), ``.port`` and the
    control conveniences ``configure``, ``advance_clock``, ``batches`` and ``reset``.
    """
    from batchport_emulator.server import EmulatorThread

    config = getattr(request, "param", None)
    if config is None:
        config = batch_emulator_config
    with EmulatorThread(config) as emulator:
        yield emulator
