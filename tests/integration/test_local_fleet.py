"""Whole-fleet behaviour: base.yaml deployed from bridge over SSH.

Brings the local fleet up (unless it is already), deploys twice through
`fleet deploy` (the README's main command) and checks what an infra root
would: the second run changes nothing, bridge reaches every host, other
hosts cannot reach ssh, accounts are right, `disabled` hosts are skipped.
The fleet is taken down afterwards only if this test brought it up.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from sctools import fleet as fleet_tool

FLEET = fleet_tool.load_fleet()
BRIDGE = FLEET.bridge
OTHERS = [h for h in FLEET.hosts if h != BRIDGE]
OUTSIDER = OTHERS[-1]  # a host that is not bridge, probing the others
TARGETS = [h for h in OTHERS if h != OUTSIDER]


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
    target = f"[{address}]" if ":" in address else address
    probe = f"timeout 4 bash -c '</dev/tcp/{target}/{port}'"
    return on(source, probe).returncode == 0


@pytest.fixture(scope="module")
def deployed():
    was_up = fleet_tool.container_state(BRIDGE.name) == "running"
    first, first_seconds = run_fleet("deploy")
    assert first.returncode == 0, "first deploy failed"
    second, second_seconds = run_fleet("deploy")
    yield {"second": second, "seconds": (first_seconds, second_seconds)}
    if not was_up:
        run_fleet("down")


def test_second_deploy_converges_with_no_changes(deployed):
    second = deployed["second"]
    assert second.returncode == 0
    assert "no changes (changed=0 on every host)" in second.stdout
    print(
        f"deploy wall times: first {deployed['seconds'][0]:.0f} s, "
        f"no-op {deployed['seconds'][1]:.0f} s"
    )


@pytest.mark.parametrize("host", OTHERS, ids=lambda h: h.name)
def test_bridge_reaches_host_over_ssh_with_its_key(deployed, host):
    result = on(BRIDGE, f"ssh -o BatchMode=yes root@{host.ipv4} hostname")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == host.name


@pytest.mark.parametrize("host", TARGETS, ids=lambda h: h.name)
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_ssh_is_closed_to_hosts_other_than_bridge(deployed, host, family):
    address = getattr(host, family)
    assert tcp_connects(BRIDGE, address, 22), "bridge must always reach ssh"
    assert not tcp_connects(OUTSIDER, address, 22), f"{OUTSIDER.name} reached ssh"


@pytest.mark.parametrize("host", FLEET.hosts, ids=lambda h: h.name)
def test_password_logins_are_off(deployed, host):
    effective = on(host, "sshd -T").stdout
    assert "passwordauthentication no" in effective


@pytest.mark.parametrize("host", FLEET.hosts, ids=lambda h: h.name)
def test_infra_roots_present_and_removed_account_gone(deployed, host):
    assert on(host, "id -nG alice").stdout.split().count("infra-root") == 1
    assert on(host, "getent passwd mallory").returncode != 0


def test_hosts_in_disabled_group_are_left_alone(deployed):
    extra = "printf 'all:\\n  children:\\n    disabled:\\n      hosts:\\n        %s:\\n' "
    script = (
        f"{extra} {OUTSIDER.name} > /tmp/disabled.yaml && cd {fleet_tool.BRIDGE_REPO} && "
        f"ANSIBLE_CONFIG=ansible.cfg {fleet_tool.BRIDGE_VENV}/bin/ansible-playbook "
        "-i inventory/local/hosts.yaml -i /tmp/disabled.yaml -i inventory/groups.yaml "
        "--list-hosts playbooks/base.yaml"
    )
    result = on(BRIDGE, script)
    assert result.returncode == 0, result.stderr
    assert OUTSIDER.name not in result.stdout
    assert BRIDGE.name in result.stdout
