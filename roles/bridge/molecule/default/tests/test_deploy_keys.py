"""bridge_deploy_keys: root logs in with a deploy key from its addresses only, restricted.

prepare.yml made three throwaway keys in molecule's ephemeral directory
(deploy, other_deploy, provisioning), copied the private keys to
/root/molecule-keys/ on each instance and authorised the provisioning key
for root without options, as provisioning does. converge.yml lists the
deploy key from 127.0.0.1 and ::1: from the instance itself over loopback
it logs in; from the test host, over the instance's network address, it
must not.
"""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from scenario import SSH_TEST_OPTIONS, converge, instance_names, original_values_put_back

testinfra_hosts = instance_names()

KEYDIR = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
INSTANCE_KEYS = "/root/molecule-keys"
AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"
MARKER = "bridge-deploy-key:"
# Only the key given (-i), never the test host's own.
SSH_OPTIONS = [*SSH_TEST_OPTIONS, "-o", "IdentitiesOnly=yes"]

original = original_values_put_back()


def public_key(name):
    return (KEYDIR / f"{name}_key.pub").read_text().strip()


def ssh_inside(host, key, *args, timeout=60):
    """ssh run on the instance (its loopback is an allowed address) with one of the test keys."""
    argv = ["timeout", str(timeout), "ssh", *SSH_OPTIONS, "-i", f"{INSTANCE_KEYS}/{key}_key", *args]
    return host.run(shlex.join(argv))


def ssh_from_test_host(address, key, *command):
    """ssh from the test host, another address than the instance's loopback."""
    return subprocess.run(
        ["ssh", *SSH_OPTIONS, "-i", str(KEYDIR / f"{key}_key"), f"root@{address}", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def ipv4(host):
    out = host.check_output("ip -4 -o addr show dev eth0")
    return re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out).group(1)


def deploy_lines(host):
    lines = host.file(AUTHORIZED_KEYS).content_string.splitlines()
    return [line for line in lines if MARKER in line]


@pytest.mark.parametrize("loopback", ["127.0.0.1", "::1"])
def test_deploy_key_runs_a_command_as_root_from_an_allowed_address(host, loopback):
    result = ssh_inside(host, "deploy", f"root@{loopback}", "id -un")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "root"


def test_deploy_key_copies_files_over_sftp_as_ansible_does(host):
    host.check_output("rm -f /tmp/sftp-probe")
    argv = ["sftp", *SSH_OPTIONS, "-i", f"{INSTANCE_KEYS}/deploy_key", "-b", "-", "root@127.0.0.1"]
    result = host.run(f"echo 'put /etc/hostname /tmp/sftp-probe' | timeout 60 {shlex.join(argv)}")
    assert result.rc == 0, result.stderr
    assert host.file("/tmp/sftp-probe").content_string == host.file("/etc/hostname").content_string


def test_deploy_key_is_refused_from_an_address_not_listed(ipv4):
    # The same path with the unrestricted key logs in, from an address
    # that is not loopback: only from= can refuse the deploy key.
    control = ssh_from_test_host(ipv4, "provisioning", "echo $SSH_CONNECTION")
    assert control.returncode == 0, control.stderr
    client = control.stdout.split()[0]
    assert client not in ("127.0.0.1", "::1"), control.stdout
    result = ssh_from_test_host(ipv4, "deploy", "true")
    assert result.returncode == 255, result.stdout + result.stderr
    assert "Permission denied" in result.stderr


def test_deploy_key_is_refused_from_an_ipv6_address_not_listed(host):
    # To its own global address the instance connects from that address,
    # not from ::1: the provisioning key shows it, the deploy key is refused.
    out = host.check_output("ip -6 -o addr show dev eth0 scope global")
    address = re.search(r"inet6 ([0-9a-f:]+)/", out).group(1)
    control = ssh_inside(host, "provisioning", f"root@{address}", "echo $SSH_CONNECTION")
    assert control.rc == 0, control.stderr
    assert control.stdout.split()[0] == address, control.stdout
    result = ssh_inside(host, "deploy", f"root@{address}", "true")
    assert result.rc == 255, result.stdout + result.stderr
    assert "Permission denied" in result.stderr


def test_deploy_key_gets_no_pty(host):
    control = ssh_inside(host, "provisioning", "-tt", "root@127.0.0.1", "tty")
    assert control.stdout.strip().startswith("/dev/pts/"), control.stdout + control.stderr
    result = ssh_inside(host, "deploy", "-tt", "root@127.0.0.1", "tty")
    assert "PTY allocation request failed" in result.stderr, result.stdout + result.stderr
    assert "/dev/pts/" not in result.stdout


def test_deploy_key_cannot_forward_a_remote_port(host):
    forward = ["-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:22"]
    control = ssh_inside(host, "provisioning", *forward, "root@127.0.0.1", "true")
    assert control.rc == 0, control.stderr
    result = ssh_inside(host, "deploy", *forward, "root@127.0.0.1", "true")
    assert result.rc == 255
    assert "remote port forwarding failed" in result.stderr, result.stderr


def test_deploy_key_cannot_open_a_connection_through_bridge(host):
    # ssh -W: the channel a local forward (-L) or ProxyJump opens. An
    # allowed one would hang on sshd's banner: timeout ends it, rc 124.
    result = ssh_inside(host, "deploy", "-W", "127.0.0.1:22", "root@127.0.0.1", timeout=20)
    assert result.rc == 255, result.stdout + result.stderr
    assert "stdio forwarding failed" in result.stderr, result.stderr


def test_deploy_key_line_has_from_restrict_and_marker(host):
    _, blob, _ = public_key("deploy").split(" ", 2)
    wanted = f'from="127.0.0.1,::1",restrict ssh-ed25519 {blob} {MARKER}molecule-deployer'
    assert deploy_lines(host) == [wanted]
    authorized = host.file(AUTHORIZED_KEYS)
    assert (authorized.user, authorized.mode) == ("root", 0o600)


def test_provisioning_key_line_is_kept(host):
    lines = host.file(AUTHORIZED_KEYS).content_string.splitlines()
    assert public_key("provisioning") in lines


def test_key_removed_from_the_list_no_longer_logs_in(host, original):
    other = {"name": "other-deployer", "key": public_key("other_deploy"), "from": ["127.0.0.1"]}
    converge(host, {"bridge_deploy_keys": [other]})
    removed = ssh_inside(host, "deploy", "root@127.0.0.1", "true")
    assert removed.rc == 255, removed.stdout + removed.stderr
    assert "Permission denied" in removed.stderr
    listed = ssh_inside(host, "other_deploy", "root@127.0.0.1", "id -un")
    assert listed.rc == 0, listed.stderr
    assert [line.rsplit(" ", 1)[1] for line in deploy_lines(host)] == [f"{MARKER}other-deployer"]
    lines = host.file(AUTHORIZED_KEYS).content_string.splitlines()
    assert public_key("provisioning") in lines
