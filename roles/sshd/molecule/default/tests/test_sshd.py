"""Behaviour of the sshd role, checked with real SSH logins from the test host.

prepare.yml made throwaway keys in the molecule ephemeral directory, gave
root one, and made "member" (in ssh-users) and "outsider" (not) with the same
key and a password. converge.yml allows root and ssh-users, MaxSessions 4.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
from scenario import SSH_TEST_OPTIONS, converge_result, instance_host, instance_names

testinfra_hosts = instance_names()

KEYDIR = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
SSHD_CONFIG = "/etc/ssh/sshd_config"


@pytest.fixture
def ipv4(host):
    out = host.check_output("ip -4 -o addr show dev eth0")
    return re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out).group(1)


def ssh(ipv4, user, *options, command=("true",)):
    return subprocess.run(
        ["ssh", *SSH_TEST_OPTIONS, *options, f"{user}@{ipv4}", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def key_login(ipv4, user, key):
    """Log in with only the given private key and print the user name."""
    return ssh(
        ipv4,
        user,
        "-i",
        str(KEYDIR / f"{key}_key"),
        "-o",
        "IdentitiesOnly=yes",
        command=("id", "-un"),
    )


def offered_methods(stderr):
    """The methods the server still offers, from 'Permission denied (a,b).'"""
    match = re.search(r"Permission denied \(([^)]*)\)", stderr)
    assert match, stderr
    return match.group(1).split(",")


def test_root_logs_in_with_key(ipv4):
    result = key_login(ipv4, "root", "root")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "root"


@pytest.mark.parametrize("user", ["root", "member"])
def test_password_login_is_refused_and_not_offered(ipv4, user):
    result = ssh(
        ipv4,
        user,
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
    )
    assert result.returncode == 255
    assert offered_methods(result.stderr) == ["publickey"]


def test_member_of_allowed_group_logs_in_with_key(ipv4):
    result = key_login(ipv4, "member", "user")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "member"


def test_user_outside_allowed_groups_is_refused(ipv4):
    result = key_login(ipv4, "outsider", "user")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


@pytest.mark.parametrize(
    "keyword, value",
    [
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("permitemptypasswords", "no"),
        ("pubkeyauthentication", "yes"),
        ("authenticationmethods", "publickey"),
        ("x11forwarding", "no"),
        ("permitrootlogin", "without-password"),  # how sshd -T spells prohibit-password
        ("maxsessions", "6"),  # from sshd_extra_settings (the role's own is 4)
        # Limits: few key tries, no forwarding, keepalives inside the encrypted channel.
        ("maxauthtries", "3"),
        ("allowtcpforwarding", "no"),
        ("allowagentforwarding", "no"),
        ("allowstreamlocalforwarding", "no"),
        ("loglevel", "VERBOSE"),
        ("tcpkeepalive", "no"),
        ("clientaliveinterval", "300"),
        ("clientalivecountmax", "2"),
    ],
)
def test_effective_setting(host, keyword, value):
    effective = host.check_output("/usr/sbin/sshd -T")
    assert f"{keyword} {value}" in effective.splitlines()


def test_config_check_is_clean(host):
    # No deprecated or unsupported keywords: sshd -t would only warn about them.
    check = host.run("/usr/sbin/sshd -t")
    assert check.rc == 0, check.stderr
    assert check.stderr.strip() == ""


def test_drop_in_cannot_weaken_config(host):
    # Debian's stock config includes sshd_config.d/ first; ours must not read it.
    drop_in = "/etc/ssh/sshd_config.d/50-weaken.conf"
    host.check_output("mkdir -p /etc/ssh/sshd_config.d")
    host.check_output("echo 'PasswordAuthentication yes' > %s", drop_in)
    try:
        effective = host.check_output("/usr/sbin/sshd -T")
    finally:
        host.check_output("rm -f %s", drop_in)
    assert "passwordauthentication no" in effective.splitlines()


def test_broken_template_leaves_sshd_running_on_old_config(host, ipv4):
    before = host.file(SSHD_CONFIG).sha256sum
    assert key_login(ipv4, "root", "root").returncode == 0
    code, output = converge_result(host, {"sshd_extra_settings": {"NoSuchOption": "yes"}})
    assert code != 0, output
    assert "failed to validate" in output, output
    assert "NoSuchOption" in output, output
    assert host.file(SSHD_CONFIG).sha256sum == before
    assert host.service("ssh").is_running
    login = key_login(ipv4, "root", "root")
    assert login.returncode == 0, login.stderr


def test_ssh_audit_finds_nothing_to_fail_or_warn_about(host, ipv4):
    # An outside scanner: Debian 13's ssh-audit on the trixie instance (the
    # bookworm package, 2.5, does not know the algorithms OpenSSH 9.2 added
    # since), against each instance's sshd over the network. Exit 0: no
    # failure and no warning (algorithms, host keys, key sizes).
    name = host.backend.get_hostname()
    scanner = instance_host(f"{name.rpartition('-')[0]}-trixie")
    audit = scanner.run(f"ssh-audit --no-colors --level=warn {ipv4}")
    assert audit.rc == 0, audit.stdout


def test_a_client_offering_only_flagged_algorithms_is_refused(ipv4):
    # The removed algorithms are really off, not only left unadvertised (a
    # MAC is negotiated only with a cipher that has none of its own).
    for options in (
        ["KexAlgorithms=ecdh-sha2-nistp256"],
        ["Ciphers=aes128-ctr", "MACs=hmac-sha1"],
        ["Ciphers=aes128-ctr", "MACs=umac-64-etm@openssh.com"],
        ["HostKeyAlgorithms=ecdsa-sha2-nistp256"],
    ):
        flags = [arg for option in options for arg in ("-o", option)]
        result = ssh(ipv4, "root", *flags, "-i", str(KEYDIR / "root_key"))
        assert result.returncode == 255, options
        assert "no matching" in result.stderr, result.stderr
