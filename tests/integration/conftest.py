"""The deployed fleet, once per session for every integration test module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fleet_helpers import BRIDGE, run_fleet  # noqa: E402

from sctools import fleet as fleet_tool  # noqa: E402


@pytest.fixture(scope="session")
def deployed():
    """Deploy twice (README's main command); take the fleet down after, if we made it."""
    was_up = fleet_tool.container_state(BRIDGE.name) == "running"
    first, first_seconds = run_fleet("deploy")
    assert first.returncode == 0, "first deploy failed"
    second, second_seconds = run_fleet("deploy")
    yield {"second": second, "seconds": (first_seconds, second_seconds)}
    if not was_up:
        run_fleet("down")
