"""Unit tests of tools/sctools/fleet.py: inventory validation and recap parsing."""

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from sctools import fleet, recap
from sctools.cli import ToolError


def test_load_fleet_reads_hosts_and_network(fleet_inventory):
    loaded = fleet.load_fleet(fleet_inventory())
    assert loaded.network == "net"
    assert [h.name for h in loaded.hosts] == ["bridge01.fleet.test", "mirror01.fleet.test"]
    assert loaded.bridge.ipv4 == "172.30.42.10"
    assert loaded.hosts[1].image == "system-config/debian-systemd:trixie"
    assert loaded.deploy_checkout == "/opt/system-config-cd"


def test_aliases_are_read(fleet_inventory):
    path = fleet_inventory(
        ("fleet_release: trixie", "fleet_release: trixie\n      fleet_aliases: [mirror.fleet.test]")
    )
    assert fleet.load_fleet(path).hosts[1].aliases == ("mirror.fleet.test",)


def test_the_real_local_inventory_is_valid():
    loaded = fleet.load_fleet()
    assert loaded.bridge.name.startswith("bridge")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("public_v4: 172.30.42.21", "public_v4: 10.0.0.1", "public_v4: 10.0.0.1 is outside"),
        ("public_v6: fd42::21", "public_v6: fd42::10", "already used by bridge01"),
        ("fleet_release: trixie", "fleet_release: sid", "fleet_release: 'sid' is not one of"),
        ("    fleet_network: net\n", "", "all.vars.fleet_network is missing"),
        ("public_v4: 172.30.42.21", "public_v4: banana", "public_v4: 'banana' does not appear"),
        ("bridge01.fleet.test:", "bastion01.fleet.test:", "exactly one bridge host, found 0"),
        (
            "      bridge_checkout_path: /opt/system-config-cd\n",
            "",
            "bridge01.fleet.test.bridge_checkout_path is missing",
        ),
        (
            "bridge_checkout_path: /opt/system-config-cd",
            "bridge_checkout_path: /opt/system-config",
            "other than /opt/system-config, where the working tree is mounted",
        ),
        (
            "bridge_checkout_path: /opt/system-config-cd",
            "bridge_checkout_path: opt/cd",
            "bridge_checkout_path: must be an absolute path",
        ),
        (
            "fleet_release: trixie",
            "fleet_release: trixie\n      fleet_aliases: mirror.fleet.test",
            "mirror01.fleet.test.fleet_aliases: must be a list of DNS names",
        ),
        (
            "fleet_release: trixie",
            "fleet_release: trixie\n      fleet_aliases: ['not a name']",
            "fleet_aliases: must be a list of DNS names",
        ),
    ],
)
def test_bad_inventory_names_file_and_field(fleet_inventory, old, new, message):
    path = fleet_inventory((old, new))
    with pytest.raises(ToolError) as error:
        fleet.load_fleet(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)
    assert error.value.code == 2


def test_yaml_syntax_error_is_reported_with_the_file(tmp_path):
    path = tmp_path / "hosts.yaml"
    path.write_text("all: [unclosed\n")
    with pytest.raises(ToolError, match=r"hosts\.yaml:2: YAML syntax error"):
        fleet.load_fleet(path)


RECAP = """
TASK [users : Remove absent accounts] ***
ok: [a.test]

PLAY RECAP *********************************************************************
a.test                     : ok=40   changed=0    unreachable=0    failed=0    skipped=3
b.example.test             : ok=12   changed=5    unreachable=1    failed=2    skipped=0
"""


def test_parse_recap_counts_per_host():
    hosts = recap.parse_recap(RECAP)
    assert hosts["a.test"] == {"ok": 40, "changed": 0, "unreachable": 0, "failed": 0}
    assert hosts["b.example.test"]["changed"] == 5
    assert recap.broken_hosts(hosts) == ["b.example.test"]


def test_parse_recap_ignores_lines_before_the_recap():
    assert recap.parse_recap("a.test : ok=1 changed=1 unreachable=0 failed=0\n") == {}


def test_main_reports_bad_command_as_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        fleet.main(["explode"])
    assert exit_info.value.code == 2


def test_nested_docker_hosts_get_what_molecule_s_nested_platform_gives():
    args = fleet.nested_docker_args()
    assert "--cap-add=SYS_ADMIN" in args and "--cap-add=NET_ADMIN" in args
    assert not any("SYS_RESOURCE" in arg or "ALL" in arg for arg in args)
    assert "--security-opt=seccomp=unconfined" in args
    assert "--security-opt=systempaths=unconfined" in args
    # /var/lib/docker: a volume (a fleet host keeps its images over a restart)
    assert "--volume=/var/lib/docker" in args
    assert not any(arg.startswith("--tmpfs") for arg in args)


def test_nested_docker_args_follow_the_file(tmp_path):
    path = tmp_path / "nested.yml"
    path.write_text(
        "platforms:\n  - capabilities: [MKNOD]\n    security_opts: [label=disable]\n"
        "    tmpfs: [/run, /srv/data:exec]\n"
    )
    assert fleet.nested_docker_args(path) == [
        "--cap-add=MKNOD",
        "--security-opt=label=disable",
        "--security-opt=systempaths=unconfined",
        "--volume=/srv/data",
    ]


def test_an_unusable_nested_platform_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "nested.yml"
    path.write_text("platforms: []\n")
    with pytest.raises(ToolError, match="nested.yml"):
        fleet.nested_docker_args(path)


def test_deploy_reads_run_alls_report_from_the_file_it_names():
    """run-all writes the report where fleet says; nothing parses run-all's output."""
    command = fleet.run_all_command(["--only", "base"], "/var/log/run-all/r.json")
    assert command.count("rm -f /var/log/run-all/r.json && exec python -m sctools.run_all") == 1
    # A fresh bridge has no /var/log/run-all yet; run-all wants the directory to exist.
    assert 'mkdir -p "$(dirname /var/log/run-all/r.json)" && rm -f' in command
    assert command.endswith("--report-file /var/log/run-all/r.json --only base")
    assert "--report-file" not in fleet.run_all_command(["--only", "base"])


def test_a_failed_run_prints_each_failed_task_with_its_name(tmp_path):
    run = tmp_path / "20261207T202408Z"
    run.mkdir()
    (run / "service-mirror.log").write_text(
        "PLAY [Mirror] ***\n"
        "TASK [apache : Enable the site] ***\n"
        "ok: [mirror01.regionb.fleet.test]\n"
        "fatal: [mirror01.regiona.fleet.test]: FAILED! => changed=false\n"
        "  msg: AH00526: Syntax error\n"
    )
    (run / "base.log").write_text("TASK [x] ***\nok: [a]\n")
    (failure,) = fleet.failed_tasks(run)
    assert failure.startswith("service-mirror.log: TASK [apache : Enable the site]")
    assert "AH00526: Syntax error" in failure


@pytest.mark.parametrize("ending", ["up fails", "SIGTERM", "SIGHUP"])
def test_a_failed_up_stops_the_image_build_it_ran_beside(tmp_path, monkeypatch, ending):
    """deploy builds the images while `up` makes the hosts; when `up` fails,
    or fleet is told to stop, the build must not go on in the background:
    neither the images tool nor a docker build it started (here: a child
    that sleeps)."""
    monkeypatch.setattr(fleet, "IMAGES_LOG", tmp_path / "images.log")
    build_pid = tmp_path / "build.pid"
    tool = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(build_pid)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    monkeypatch.setattr(fleet, "IMAGES_TOOL", [sys.executable, "-c", tool])
    fleet_start = fleet.start_image_build
    started = []

    def start(loaded):
        started.append(fleet_start(loaded))
        return started[-1]

    def up(loaded, extra):
        # Fails only once the tool has started its "docker build".
        wait_until(lambda: build_pid.exists() and build_pid.read_text(), "the build's child")
        if ending == "up fails":
            raise ToolError("docker network create failed")
        os.kill(os.getpid(), getattr(signal, ending))
        wait_until(lambda: False, "the signal's handler")  # it raises

    monkeypatch.setattr(fleet, "start_image_build", start)
    monkeypatch.setattr(fleet, "cmd_up", up)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    expected = ToolError if ending == "up fails" else KeyboardInterrupt
    with pytest.raises(expected):
        fleet.cmd_deploy(fleet.load_fleet(), [])
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers  # restored
    assert started[0].proc.poll() is not None  # ended, not left running
    child = int(build_pid.read_text())
    # The child was the tool's: once reparented it is reaped by init, so it
    # is gone or a zombie about to be reaped; never still sleeping.
    wait_until(lambda: process_state(child) in (None, "Z"), f"the end of the build's child {child}")
    assert (tmp_path / "images.log").read_text().startswith("$ images build --prefix ")


def wait_until(condition, what: str, limit: float = 120) -> None:
    """Wait for condition(); the limit only turns a hang into a failure."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"no sign of {what} after {limit:.0f} s"
        time.sleep(0.05)


def process_state(pid: int) -> str | None:
    """The state letter of a process (/proc/PID/stat), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]
