"""Behaviour of the zuul_executor role on a Debian 13 docker host.

prepare.yml made the instance a docker host with our images in its
registry, a one-node ZooKeeper with TLS and zuul.conf (roles internal_ca,
zookeeper, zuul_config), and an SSH key pair on the test host in the
ephemeral directory. converge.yml runs the role with that private key and
the site variables of group_vars/zuul_executor.yaml. molecule ran converge
twice (converge, idempotence) before these tests.

Tests that change a setting converge again for their own instance and put
the original back afterwards.
"""

import json
import os
import shlex
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml

from sctools.molecule_all import converge_instance

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

SCENARIO_DIR = Path(__file__).resolve().parents[1]
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
COMPOSE = "docker compose --project-directory /etc/zuul-executor"
KEY = "/var/lib/zuul/ssh/id_rsa"
SITE_VARIABLES = "/etc/zuul/site-variables.yaml"
FINGER_PORT = 7900

# Lists what is registered in ZooKeeper under /zuul/components/<kind>, with
# Zuul's own client and the executor's zuul.conf (TLS client certificate).
COMPONENTS = """
import configparser, json, sys
from zuul.zk import ZooKeeperClient
config = configparser.ConfigParser()
config.read('/etc/zuul/zuul.conf')
zk = ZooKeeperClient.fromConfig(config)
zk.connect()
root = '/zuul/components/' + sys.argv[1]
nodes = zk.client.get_children(root) if zk.client.exists(root) else []
print(json.dumps([json.loads(zk.client.get(root + '/' + node)[0]) for node in nodes]))
zk.disconnect()
"""


def in_executor(host, command, user="zuul"):
    """Run a shell command in the executor container, as the zuul user by default."""
    return host.run(f"{COMPOSE} exec -T -u {user} executor sh -c {shlex.quote(command)}")


def container_id(host):
    return host.check_output(f"{COMPOSE} ps -q executor")


def converge(host, **extra_vars):
    result = converge_instance(SCENARIO_DIR, host.backend.get_hostname(), extra_vars)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def original(host):
    """Converge with the scenario's own values afterwards, whatever the test did."""
    yield
    returncode, output = converge(host)
    assert returncode == 0, output[-3000:]


def registered(host, kind):
    result = in_executor(host, f"/opt/zuul/bin/python -c {shlex.quote(COMPONENTS)} {kind}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_executor_is_registered_in_zookeeper_and_running(host):
    executors = registered(host, "executor")
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


def test_jobs_can_run_in_bubblewrap_as_zuul(host):
    # zuul-bwrap wraps a command exactly as the executor wraps a job's
    # ansible-playbook (user, pid and mount namespaces, its own /proc).
    command = "id -un; ls /proc | grep -c '^[0-9]'"
    result = in_executor(host, f"zuul-bwrap /tmp /tmp -- sh -c {shlex.quote(command)}")
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


def test_executor_reads_the_key_jobs_log_in_with(host):
    public = (EPHEMERAL / "executor-ssh-key.pub").read_text().split()[:2]
    result = in_executor(host, f"ssh-keygen -y -f {KEY}")
    assert result.rc == 0, result.stderr
    assert result.stdout.split()[:2] == public


def test_site_variables_leave_zuul_jinja_for_job_time(host):
    variables = yaml.safe_load(host.file(SITE_VARIABLES).content_string)
    assert variables == {
        "zuul_site_mirror_fqdn": (
            "mirror.{{ nodepool.region | lower }}.{{ nodepool.cloud | lower }}.zuul-executor.test"
        )
    }


def test_a_run_without_changes_leaves_the_executor_running(host):
    before = container_id(host)
    returncode, output = converge(host)
    assert returncode == 0, output[-3000:]
    assert "changed=0" in output
    assert container_id(host) == before


@pytest.mark.usefixtures("original")
def test_changed_site_variables_restart_the_executor(host):
    before = container_id(host)
    returncode, output = converge(host, zuul_executor_site_variables={"zuul_site_extra": "yes"})
    assert returncode == 0, output[-3000:]
    assert yaml.safe_load(host.file(SITE_VARIABLES).content_string) == {"zuul_site_extra": "yes"}
    assert container_id(host) != before
    assert host.check_output(f"{COMPOSE} ps --format '{{{{.State}}}}' executor") == "running"


ARMOUR = "-----{} OPENSSH PRIVATE KEY-----"
BROKEN_KEYS = {
    # looks like a key: ssh-keygen refuses it
    "garbage": f"{ARMOUR.format('BEGIN')}\nmolecule-not-a-key-7f3a\n{ARMOUR.format('END')}",
    # the public half: the role's own check refuses it
    "public": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAmolecule-not-a-key-7f3a molecule",
}


@pytest.mark.usefixtures("original")
@pytest.mark.parametrize("kind", sorted(BROKEN_KEYS))
def test_a_broken_key_is_refused_and_never_logged(host, kind):
    before = host.file(KEY).sha256sum
    returncode, output = converge(host, zuul_executor_ssh_private_key=BROKEN_KEYS[kind])
    assert returncode != 0
    assert "molecule-not-a-key-7f3a" not in output
    assert host.file(KEY).sha256sum == before
