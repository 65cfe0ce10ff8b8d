"""Whole-fleet behaviour: base.yaml deployed from bridge over SSH.

The fleet is deployed twice by the session fixture in conftest.py (the
README's main command: run-all on bridge). Checks what an infra root would:
the second run changes nothing, bridge reaches every host, other hosts
cannot reach ssh (bridge's: only the operators and Zuul's executor can),
accounts are right, `disabled` hosts are skipped; an overlapping run exits
at once naming the holder, a run killed half-way is recovered by the next,
and a dead host fails the run without stopping the other hosts from
converging.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time

import pytest
from fleet_helpers import (
    BRIDGE,
    HOSTS,
    MANAGED,
    alive,
    lock_record_pid,
    on,
    tcp_probes,
    wait_until,
)

from sctools import fleet as fleet_tool
from sctools.cli import Exit

OTHERS = [h for h in MANAGED if h != BRIDGE]
OUTSIDER = OTHERS[-1]  # a host that is not bridge, probing the others
TARGETS = [h for h in OTHERS if h != OUTSIDER]
# The infra roots' laptop: site_operator_ssh_sources in inventory/local.
OPERATOR = HOSTS["standins01.fleet.test"]
# Zuul's executor runs the production jobs on bridge (group_vars/bridge.yaml).
EXECUTOR = HOSTS["ze01.fleet.test"]
assert OUTSIDER != EXECUTOR


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
    result = on(BRIDGE, f"ssh -o BatchMode=yes root@{host.ipv4} hostname -f")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == host.name


@pytest.fixture(scope="module")
def ssh_probes(deployed) -> dict[tuple[str, str, int], bool]:
    """ssh of every target from bridge and from the outsider, of bridge and
    a target from the operators and the outsider, and of bridge from the
    executor, probed at once."""
    return tcp_probes(
        [
            *(
                (source, getattr(host, family), 22)
                for source in (BRIDGE, OUTSIDER)
                for host in TARGETS
                for family in ("ipv4", "ipv6")
            ),
            *(
                (source, getattr(host, family), 22)
                for source in (OPERATOR, OUTSIDER)
                for host in (BRIDGE, TARGETS[0])
                for family in ("ipv4", "ipv6")
            ),
            *((EXECUTOR, getattr(BRIDGE, family), 22) for family in ("ipv4", "ipv6")),
        ]
    )


@pytest.mark.parametrize("host", TARGETS, ids=lambda h: h.name)
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_ssh_is_closed_to_hosts_other_than_bridge(ssh_probes, host, family):
    address = getattr(host, family)
    assert ssh_probes[(BRIDGE.name, address, 22)], "bridge must always reach ssh"
    assert not ssh_probes[(OUTSIDER.name, address, 22)], f"{OUTSIDER.name} reached ssh"


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_bridge_ssh_is_open_to_the_operators_and_executors_only(ssh_probes, family):
    address = getattr(BRIDGE, family)
    assert ssh_probes[(OPERATOR.name, address, 22)], "the operators must reach bridge"
    assert ssh_probes[(EXECUTOR.name, address, 22)], "Zuul's executor must reach bridge"
    assert not ssh_probes[(OUTSIDER.name, address, 22)], f"{OUTSIDER.name} reached bridge"


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_operators_reach_other_hosts_only_through_bridge(ssh_probes, family):
    target = TARGETS[0]
    assert not ssh_probes[(OPERATOR.name, getattr(target, family), 22)], f"ssh to {target.name}"


@pytest.mark.parametrize("host", MANAGED, ids=lambda h: h.name)
def test_password_logins_are_off(deployed, host):
    effective = on(host, "sshd -T").stdout
    assert "passwordauthentication no" in effective


@pytest.mark.parametrize("host", MANAGED, ids=lambda h: h.name)
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


# The lock, kill and dead-host tests are about run-all, not about what the
# playbooks do: base and bridge on three hosts (bridge, the host that dies,
# one that lives on; both Debian releases) are enough, and keep each of
# their six runs short.
RUN_ALL_HOSTS = [BRIDGE.name, OUTSIDER.name, TARGETS[0].name]
RUN_ALL_SCOPE = ["--only", "base", "--only", "bridge", "--limit", ",".join(RUN_ALL_HOSTS)]


def run_all_on_bridge(*args: str, background: bool = False) -> subprocess.CompletedProcess:
    command = fleet_tool.run_all_command([*RUN_ALL_SCOPE, *args])
    if background:
        command = f"nohup bash -c {shlex.quote(command)} >/tmp/background-run.log 2>&1 &"
    return on(BRIDGE, command, timeout=1800)


def playbooks_of(run_all_pid: int) -> list[int]:
    """The ansible-playbook processes a run-all on bridge has started."""
    found = on(BRIDGE, f"pgrep -P {run_all_pid} -f ansible-playbook").stdout
    return [int(p) for p in found.split()]


def test_overlapping_run_exits_at_once_and_a_killed_run_never_overlaps_the_next(deployed):
    run_all_on_bridge(background=True)
    wait_until(lambda: lock_record_pid() is not None, "the background run takes the lock")
    pid = lock_record_pid()
    second = run_all_on_bridge()
    assert second.returncode == Exit.BUSY, second.stdout + second.stderr
    assert f"pid {pid} started" in second.stderr
    # Half-way: its playbook converges. Then SIGKILL, as the OOM killer does.
    wait_until(lambda: playbooks_of(pid), "the background run starts a playbook")
    playbooks = playbooks_of(pid)
    on(BRIDGE, f"kill -KILL {pid}")
    # The orphaned playbook holds the lock until it is gone (and it dies
    # with run-all): every run started meanwhile exits 3 at once, and the
    # one that runs starts after it.
    deadline = time.monotonic() + 300
    while (again := run_all_on_bridge()).returncode == Exit.BUSY:
        assert any(alive(p) for p in playbooks) or lock_record_pid() is None, again.stderr
        assert time.monotonic() < deadline, "the killed run's lock was never released"
    assert again.returncode == 0, again.stdout[-3000:]
    assert not any(alive(p) for p in playbooks)


def test_dead_host_is_named_and_the_others_converge(deployed):
    subprocess.run(["docker", "stop", OUTSIDER.name], check=True, capture_output=True)
    try:
        report_path = "/tmp/dead-host-report.json"
        result = run_all_on_bridge("--report-file", report_path)
        assert result.returncode == Exit.FAILED, "a dead host must make the run fail"
        report = json.loads(on(BRIDGE, f"cat {report_path}").stdout)
        outcomes = {p["name"]: p for p in report["playbooks"]}
        base_hosts = outcomes["base"]["hosts"]
        assert base_hosts[OUTSIDER.name]["status"] == "unreachable"
        assert all(r["status"] == "ok" for h, r in base_hosts.items() if h != OUTSIDER.name), (
            base_hosts
        )
        assert outcomes["bridge"]["status"] == "ok", "bridge.yaml must still run"
        assert OUTSIDER.name in result.stdout.splitlines()[-1]
    finally:
        subprocess.run(["docker", "start", OUTSIDER.name], check=True, capture_output=True)
        fleet_tool.wait_booted(OUTSIDER)
    assert run_all_on_bridge().returncode == 0
