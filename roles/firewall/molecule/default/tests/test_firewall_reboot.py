"""The firewall after a reboot (runs after test_firewall.py: file order)."""

import subprocess
import time

import pytest
from fwprobe import (
    DECLARED_PORT,
    FAMILIES,
    UNDECLARED_PORT,
    address,
    connects_from,
    other_instance,
)

BOOT_TIMEOUT = 120  # seconds


def _reboot(name: str) -> None:
    """Shut the container's systemd down cleanly, start it, wait for boot."""
    # SIGRTMIN+3 asks systemd (PID 1) to halt: a clean shutdown, then the
    # container exits. `docker restart` would send SIGTERM, which systemd
    # ignores, and kill it after 10 s.
    subprocess.run(
        ["docker", "kill", "--signal", "SIGRTMIN+3", name], check=True, capture_output=True
    )
    subprocess.run(["timeout", "60", "docker", "wait", name], check=True, capture_output=True)
    subprocess.run(["docker", "start", name], check=True, capture_output=True)
    deadline = time.monotonic() + BOOT_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(
            ["docker", "exec", name, "systemctl", "is-system-running", "--wait"],
            capture_output=True,
            text=True,
            check=False,
        )
        state = proc.stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    pytest.fail(f"{name} did not finish booting in {BOOT_TIMEOUT} s (state {state!r})")


@pytest.fixture(scope="module")
def rebooted(host):
    """Reboot the instance once per instance; yields the instance."""
    _reboot(host.backend.get_hostname())
    return host


@pytest.mark.parametrize("family", FAMILIES)
def test_declared_port_answers_after_reboot(rebooted, family):
    assert connects_from(other_instance(rebooted), address(rebooted, family), DECLARED_PORT)


@pytest.mark.parametrize("family", FAMILIES)
def test_undeclared_port_blocked_after_reboot(rebooted, family):
    assert not connects_from(other_instance(rebooted), address(rebooted, family), UNDECLARED_PORT)
