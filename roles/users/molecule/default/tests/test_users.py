"""Behaviour of the users role, checked with real SSH logins from the test host.

prepare.yml made four throwaway keys in the molecule ephemeral directory, a
former infra-root "formerroot" (key, sudo, mail spool, a running process) and
an older "alice" whose only key was "stale"; converge.yml keeps alice and bob
and marks formerroot absent.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
from scenario import SSH_TEST_OPTIONS, instance_names

testinfra_hosts = instance_names()

KEYDIR = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
PRESENT = {"alice": 2001, "bob": 2003}
# A key that is valid for somebody, but not for this account.
WRONG_KEY = {"alice": "stale", "bob": "formerroot"}
SUDO_GROUP = "infra-root"


@pytest.fixture
def ipv4(host):
    out = host.check_output("ip -4 -o addr show dev eth0")
    return re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out).group(1)


def ssh(ipv4, user, key, *command):
    """Log in as user with only the given private key; never prompt."""
    return subprocess.run(
        [
            "ssh",
            *SSH_TEST_OPTIONS,
            "-i",
            str(KEYDIR / f"{key}_key"),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "LogLevel=ERROR",
            f"{user}@{ipv4}",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("user", sorted(PRESENT))
def test_account_logs_in_with_its_key(ipv4, user):
    result = ssh(ipv4, user, user, "id", "-un")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == user


@pytest.mark.parametrize("user", sorted(PRESENT))
def test_account_has_passwordless_sudo(ipv4, user):
    result = ssh(ipv4, user, user, "sudo", "-n", "id", "-u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


@pytest.mark.parametrize("user", sorted(PRESENT))
def test_wrong_key_is_refused(ipv4, user):
    result = ssh(ipv4, user, WRONG_KEY[user], "true")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


@pytest.mark.parametrize("user", sorted(PRESENT))
def test_authorized_keys_hold_exactly_the_listed_key(host, user):
    authorized = host.file(f"/home/{user}/.ssh/authorized_keys")
    assert authorized.user == user
    assert authorized.mode & 0o077 == 0
    listed = (KEYDIR / f"{user}_key.pub").read_text().split()[:2]
    keys = [line.split()[:2] for line in authorized.content_string.splitlines() if line.strip()]
    assert keys == [listed]


@pytest.mark.parametrize("user", sorted(PRESENT))
def test_account_has_uid_home_bash_and_sudo_group(host, user):
    account = host.user(user)
    assert account.uid == PRESENT[user]
    assert account.home == f"/home/{user}"
    assert host.file(account.home).is_directory
    assert account.shell == "/bin/bash"
    assert SUDO_GROUP in account.groups


@pytest.mark.parametrize("user", sorted(PRESENT))
def test_home_is_not_readable_by_others(host, user):
    assert host.file(f"/home/{user}").mode & 0o077 == 0
    probe = host.run(f"runuser -u nobody -- ls /home/{user}")
    assert probe.rc != 0


def test_sudoers_directory_is_closed_to_others(host):
    assert host.file("/etc/sudoers.d").mode & 0o007 == 0


def test_sudoers_dropin_is_read_only_and_valid(host):
    dropin = host.file(f"/etc/sudoers.d/{SUDO_GROUP}")
    assert dropin.user == "root"
    assert dropin.mode == 0o440
    assert host.run("visudo -cf /etc/sudoers.d/%s", SUDO_GROUP).rc == 0


def test_former_root_cannot_log_in_with_his_key(ipv4):
    result = ssh(ipv4, "formerroot", "formerroot", "true")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_former_root_account_is_gone(host):
    assert host.run("getent passwd formerroot").rc == 2
    assert host.run("getent passwd 2002").rc == 2


def test_former_root_home_and_mail_spool_are_gone(host):
    assert not host.file("/home/formerroot").exists
    assert not host.file("/var/mail/formerroot").exists


def test_former_root_processes_are_gone(host):
    # pgrep exits 1 when no process matches.
    assert host.run("pgrep --uid 2002").rc == 1


def test_former_root_is_no_longer_in_sudo_group(host):
    members = host.check_output("getent group %s", SUDO_GROUP).rsplit(":", 1)[1]
    assert "formerroot" not in members.split(",")
