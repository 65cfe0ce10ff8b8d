"""Behaviour of the zuul_executor role in the Zuul stack.

See zuul_stack.py for what prepare.yml and converge.yml did: the executor
runs with the SSH key pair prepare.yml made in the ephemeral directory and
the site variables of group_vars/zuul_executor.yaml (site_domain
zuul.test). Tests that change a setting converge again and put the
original back afterwards.
"""

import os
import shlex

import pytest
import yaml
from scenario import instance_names
from zuul_stack import EPHEMERAL, compose, running

testinfra_hosts = instance_names()

KEY = "/var/lib/zuul/ssh/id_rsa"
SITE_VARIABLES = "/etc/zuul/site-variables.yaml"
FINGER_PORT = 7900


def in_executor(stack, command, user="zuul"):
    """A shell command in the executor container, as the zuul user by default."""
    return stack.exec("executor", command, user=user)


def test_executor_is_registered_in_zookeeper_and_running(host, stack):
    # Read with the executor's own Zuul and zuul.conf (TLS client certificate).
    executors = stack.zookeeper("executor")["components"].get("executor", [])
    assert [(e["kind"], e["state"]) for e in executors] == [("executor", "running")], executors
    assert executors[0]["hostname"] == host.check_output("hostname")


def test_finger_port_answers_for_a_build(host):
    # The finger protocol: a build's uuid and a newline; an unknown build is
    # refused by name, which only the executor's log streamer says.
    probe = (
        f"import socket; s = socket.create_connection(('127.0.0.1', {FINGER_PORT}), 10);"
        " s.sendall(b'0123456789abcdef\\n'); print(s.recv(200).decode())"
    )
    answer = host.check_output(f"python3 -c {shlex.quote(probe)}")
    assert answer == "Build ID 0123456789abcdef not found"


def test_jobs_can_run_in_bubblewrap_as_zuul(stack):
    # zuul-bwrap wraps a command exactly as the executor wraps a job's
    # ansible-playbook (user, pid and mount namespaces, its own /proc).
    command = "id -un; ls /proc | grep -c '^[0-9]'"
    result = in_executor(stack, f"zuul-bwrap /tmp /tmp -- sh -c {shlex.quote(command)}")
    assert result.rc == 0, result.stderr
    user, processes = result.stdout.split()
    assert user == "zuul"
    # A pid namespace of its own: only the wrapped command's processes.
    assert int(processes) < 10


def test_executor_process_runs_as_zuul(host):
    # Started as root in the container, it drops to [executor] user; seen
    # from the host, its processes belong to uid 10001.
    probe = (
        "import os, glob\n"
        "for d in glob.glob('/proc/[0-9]*'):\n"
        "    try:\n"
        "        args = open(d + '/cmdline', 'rb').read().split(b'\\0')\n"
        "        if any(a.endswith(b'/zuul-executor') for a in args[:2]):\n"
        "            print(os.stat(d).st_uid)\n"
        "    except OSError: pass\n"
    )
    uids = set(host.check_output(f"python3 -c {shlex.quote(probe)}").split())
    assert uids == {"10001"}


def test_ssh_key_is_readable_only_by_zuul(host):
    key = host.file(KEY)
    assert key.uid == 10001 and key.gid == 10001
    assert key.mode == 0o600
    directory = host.file(os.path.dirname(KEY))
    assert directory.uid == 10001 and directory.mode == 0o700


def test_executor_reads_the_key_jobs_log_in_with(stack):
    public = (EPHEMERAL / "executor-ssh-key.pub").read_text().split()[:2]
    result = in_executor(stack, f"ssh-keygen -y -f {KEY}")
    assert result.rc == 0, result.stderr
    assert result.stdout.split()[:2] == public


def test_site_variables_leave_zuul_jinja_for_job_time(host):
    variables = yaml.safe_load(host.file(SITE_VARIABLES).content_string)
    assert variables == {
        "zuul_site_mirror_fqdn": (
            "mirror.{{ nodepool.region | lower }}.{{ nodepool.cloud | lower }}.zuul.test"
        )
    }


@pytest.fixture
def site_variables_put_back(host, stack):
    """The scenario's site variables again, and the executor restarted with them.

    Only the executor's tasks run (its tags): the other services do not
    read the file.
    """
    before = host.file(SITE_VARIABLES).sha256sum
    yield
    code, output = stack.converge(tags=("zuul_executor_configure", "zuul_executor_service"))
    assert code == 0, output[-3000:]
    assert host.file(SITE_VARIABLES).sha256sum == before


@pytest.mark.usefixtures("site_variables_put_back")
def test_changed_site_variables_restart_the_executor_only(host, stack):
    before = stack.containers()
    code, output = stack.converge({"zuul_executor_site_variables": {"zuul_site_extra": "yes"}})
    assert code == 0, output[-3000:]
    assert yaml.safe_load(host.file(SITE_VARIABLES).content_string) == {"zuul_site_extra": "yes"}
    after = stack.containers()
    assert after["executor"][0] != before["executor"][0]
    state = host.check_output(f"{compose('executor')} ps --format '{{{{.State}}}}' executor")
    assert state == "running"
    assert running(stack.zookeeper("executor")["components"], "executor")
    # The other services do not read the site variables.
    assert {s: c for s, c in after.items() if s != "executor"} == {
        s: c for s, c in before.items() if s != "executor"
    }


ARMOUR = "-----{} OPENSSH PRIVATE KEY-----"
BROKEN_KEYS = {
    # looks like a key: ssh-keygen refuses it
    "garbage": f"{ARMOUR.format('BEGIN')}\nmolecule-not-a-key-7f3a\n{ARMOUR.format('END')}",
    # the public half: the role's own check refuses it
    "public": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAmolecule-not-a-key-7f3a molecule",
}


@pytest.mark.parametrize("kind", sorted(BROKEN_KEYS))
def test_a_broken_key_is_refused_and_never_logged(host, stack, kind):
    # The executor's tasks only (its tags): the run stops at the key, before
    # its service; nothing changed, nothing to put back.
    before = host.file(KEY).sha256sum
    executor = stack.container("executor")
    code, output = stack.converge(
        {"zuul_executor_ssh_private_key": BROKEN_KEYS[kind]},
        tags=("zuul_executor_configure", "zuul_executor_service"),
    )
    assert code != 0
    assert "molecule-not-a-key-7f3a" not in output
    assert host.file(KEY).sha256sum == before
    assert stack.container("executor") == executor
