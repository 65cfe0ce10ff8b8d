"""What the fleet tests share: the fleet, running `fleet`, commands on hosts."""

from __future__ import annotations

import subprocess
import sys
import time

from sctools import fleet as fleet_tool

FLEET = fleet_tool.load_fleet()
BRIDGE = FLEET.bridge
HOSTS = {h.name: h for h in FLEET.hosts}
# The stand-ins for the outside world are in `disabled`: no playbook
# manages them, so the base checks do not apply to them.
DISABLED = fleet_tool.inventory_group("disabled")
MANAGED = [h for h in FLEET.hosts if h.name not in DISABLED]


def run_fleet(command: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "sctools.fleet", command],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - start
    print(f"\n$ fleet {command}  ({seconds:.0f} s)\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc, seconds


def on(host: fleet_tool.Host, script: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "exec", host.name, "bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tcp_connects(source: fleet_tool.Host, address: str, port: int) -> bool:
    # bash's /dev/tcp takes a bare IPv6 address (no brackets).
    probe = f"timeout 4 bash -c '</dev/tcp/{address}/{port}'"
    return on(source, probe).returncode == 0
