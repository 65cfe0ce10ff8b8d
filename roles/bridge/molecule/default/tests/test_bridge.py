"""Behaviour of the bridge role: the checkout, the venv, the cron entry, the key.

prepare.yml made on each instance a local upstream (/srv/upstream/work, a
working tree, and /srv/upstream/system-config.git, bare) holding the real
run-all code and schedule.yaml; converge.yml cloned it to the default
checkout path and built the venv from a requirements file with PyYAML only.
Some tests run converge.yml again themselves, limited to the host under test.
"""

import re
import shlex

import pytest
from scenario import converge, instance_names

testinfra_hosts = instance_names()

CHECKOUT = "/opt/system-config"
VENV = "/opt/ansible-venv"
LOG_DIR = "/var/log/run-all"
CRON_LOG = f"{LOG_DIR}/cron.log"
PRIVATE_DIR = "/etc/system-config/private"
SSH_KEY = "/root/.ssh/id_ed25519"
WORK = "/srv/upstream/work"
BARE = "/srv/upstream/system-config.git"
# The environment cron gives a job (Debian's cron: no PATH from a login).
CRON_ENV = "env -i HOME=/root LOGNAME=root SHELL=/bin/sh PATH=/usr/bin:/bin"


def fingerprint(host):
    return host.check_output(f"ssh-keygen -l -f {SSH_KEY}")


def cron_command(host):
    """The command of the run-all entry in root's crontab, exactly as cron runs it."""
    crontab = host.check_output("crontab -l -u root")
    match = re.search(r"^#Ansible: run-all\n(?P<line>.*)$", crontab, re.MULTILINE)
    assert match, crontab
    fields = match["line"].split(None, 5)
    assert fields[:5] == ["*/15", "*", "*", "*", "*"], match["line"]
    return fields[5]


def push_upstream_commit(host):
    """Commit a change to the upstream; return the new commit id."""
    host.check_output(
        f"cd {WORK} && date +%s%N > NEWS && git add NEWS && "
        "git -c user.name=molecule -c user.email=molecule@example.org "
        "commit -q -m 'A new upstream commit' && "
        f"git push -q {BARE} master"
    )
    return host.check_output(f"git --git-dir {BARE} rev-parse master")


@pytest.fixture(scope="module")
def reconverged(host):
    """Push a new commit upstream, then converge again: what changed, what did not."""
    key_before = fingerprint(host)
    new_head = push_upstream_commit(host)
    output = converge(host)
    return {"key_before": key_before, "new_head": new_head, "output": output}


def test_checkout_is_at_the_upstream_head(host):
    checkout = host.check_output(f"git -C {CHECKOUT} rev-parse HEAD")
    assert checkout == host.check_output(f"git --git-dir {BARE} rev-parse master")


def test_checkout_follows_a_new_upstream_commit(host, reconverged):
    assert host.check_output(f"git -C {CHECKOUT} rev-parse HEAD") == reconverged["new_head"]
    assert host.file(f"{CHECKOUT}/NEWS").exists


def test_checkout_is_left_alone_without_updates(host, reconverged):
    """bridge_repo_update false (the local fleet's read-only working tree)."""
    pushed = push_upstream_commit(host)
    converge(host, {"bridge_repo_update": False})
    head = host.check_output(f"git -C {CHECKOUT} rev-parse HEAD")
    assert head == reconverged["new_head"]
    assert head != pushed


def test_second_converge_keeps_the_ssh_key(host, reconverged):
    assert fingerprint(host) == reconverged["key_before"]


def test_ssh_key_is_root_only(host):
    key = host.file(SSH_KEY)
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
    assert host.check_output(f"ssh-keygen -y -f {SSH_KEY}").startswith("ssh-")


def test_venv_python_runs_with_the_requirements(host):
    result = host.run(f"{VENV}/bin/python -c 'import sys, yaml; print(sys.prefix)'")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == VENV


def test_cron_runs(host):
    assert host.service("cron").is_running
    assert host.service("cron").is_enabled


def test_cron_command_prints_the_plan(host):
    """The crontab's own command, with --list appended, in cron's environment."""
    command = cron_command(host)
    size_before = int(host.run(f"stat -c %s {CRON_LOG} 2>/dev/null || echo 0").stdout)
    result = host.run(f"{CRON_ENV} /bin/sh -c {shlex.quote(command + ' --list')}")
    assert result.rc == 0, result.stdout + result.stderr + host.run(f"cat {CRON_LOG}").stdout
    appended = host.check_output(f"tail -c +{size_before + 1} {CRON_LOG}")
    assert re.search(r"^base\s+cron\s+1800\s+-$", appended, re.MULTILINE), appended


def test_private_dir_is_root_only(host):
    private = host.file(PRIVATE_DIR)
    assert private.is_directory
    assert (private.user, private.group, private.mode) == ("root", "root", 0o700)


def test_logrotate_accepts_the_config(host):
    result = host.run("logrotate -d /etc/logrotate.d/run-all")
    assert result.rc == 0, result.stderr
    assert CRON_LOG in result.stderr + result.stdout


def test_logrotate_rotates_the_cron_log(host):
    host.check_output(f"echo 'a line cron appended' >> {CRON_LOG}")
    state = "/tmp/run-all-logrotate.state"
    result = host.run(f"logrotate -f -s {state} /etc/logrotate.d/run-all")
    assert result.rc == 0, result.stderr
    assert host.file(f"{CRON_LOG}.1.gz").exists
    # copytruncate: the file cron appends to stays, emptied.
    assert host.file(CRON_LOG).exists
    assert host.file(CRON_LOG).size == 0
