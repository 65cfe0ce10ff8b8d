"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

# A valid local fleet inventory (what tools/sctools/fleet.py reads): bridge
# and one more host, on the fleet's own subnets.
FLEET_INVENTORY = """\
all:
  vars:
    fleet_network: net
    fleet_ipv4_subnet: 172.30.42.0/24
    fleet_ipv6_subnet: fd42::/64
  hosts:
    bridge01.fleet.test:
      public_v4: 172.30.42.10
      public_v6: fd42::10
      fleet_release: bookworm
      bridge_checkout_path: /opt/system-config-cd
    mirror01.fleet.test:
      public_v4: 172.30.42.21
      public_v6: fd42::21
      fleet_release: trixie
"""


@pytest.fixture
def fleet_inventory(tmp_path: Path) -> Callable[..., Path]:
    """Writes FLEET_INVENTORY to tmp_path/hosts.yaml, each (old, new) replaced; its path."""

    def write(*replacements: tuple[str, str]) -> Path:
        text = FLEET_INVENTORY
        for old, new in replacements:
            assert old in text, f"not in the inventory: {old!r}"
            text = text.replace(old, new)
        path = tmp_path / "hosts.yaml"
        path.write_text(text)
        return path

    return write
