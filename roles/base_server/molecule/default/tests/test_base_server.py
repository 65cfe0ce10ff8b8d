"""Behaviour of the base_server role on each instance.

converge.yml names each instance srv-<release>.infra.example.org (unlike the
container's own name, so the test sees that the role set it), points chrony
at 127.0.0.1 only (no NTP traffic leaves the test network) and keeps every
other default: time zone UTC, journal limits 1G / 1month, unattended
upgrades on, reports to root.
"""

import os
import re

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

DOMAIN = "infra.example.org"
NTP_SERVER = "127.0.0.1"
JOURNAL_MAX_USE = "1G"
JOURNAL_RETENTION = "1month"
PACKAGE_COMMANDS = {
    "curl": "curl --version",
    "rsync": "rsync --version",
    "lsof": "lsof -v",
    "tmux": "tmux -V",
    "less": "less --version",
    "vim-tiny": "vi --version",
    "ca-certificates": "test -s /etc/ssl/certs/ca-certificates.crt",
}


@pytest.fixture
def short_name(host):
    release = host.backend.host.rsplit("-", 1)[1]
    return f"srv-{release}"


def effective(config_text, key):
    """The value systemd uses: the last assignment of key wins."""
    values = re.findall(rf"^{key}=(.*)$", config_text, re.MULTILINE)
    return values[-1].strip() if values else None


def size_in_bytes(text):
    """journald prints sizes as 1.0G (Debian 12) or 1G (Debian 13)."""
    number, unit = re.fullmatch(r"([0-9.]+)([KMGTPE]?)", text).groups()
    return float(number) * 1024 ** " KMGTPE".index(unit or " ")


def test_hostname_is_the_short_name(host, short_name):
    assert host.check_output("hostname") == short_name
    assert host.file("/etc/hostname").content_string.strip() == short_name


def test_hostname_f_prints_the_fqdn(host, short_name):
    assert host.check_output("hostname -f") == f"{short_name}.{DOMAIN}"


def test_fqdn_resolves_locally(host, short_name):
    entry = host.check_output(f"getent hosts {short_name}.{DOMAIN}").split()
    assert entry[0] == "127.0.1.1"
    assert entry[1:] == [f"{short_name}.{DOMAIN}", short_name]


def test_time_zone_is_utc(host):
    assert host.check_output("date +%Z") == "UTC"
    assert host.check_output("timedatectl show --property=Timezone --value") == "UTC"
    assert host.check_output("readlink /etc/localtime") == "/usr/share/zoneinfo/UTC"


def test_etc_timezone_agrees_where_present(host):
    timezone = host.file("/etc/timezone")
    if host.system_info.codename == "bookworm":
        assert timezone.exists, "Debian 12's tzdata keeps /etc/timezone"
    if timezone.exists:
        assert timezone.content_string.strip() == "UTC"


def test_chronyd_runs_and_answers(host):
    chrony = host.service("chrony")
    assert chrony.is_running
    assert chrony.is_enabled
    # No internet here: chronyd answers but is not synchronised.
    tracking = host.run("chronyc -n tracking")
    assert tracking.rc == 0, tracking.stderr
    assert "Reference ID" in tracking.stdout


def test_chronyd_uses_the_configured_servers(host):
    sources = host.check_output("chronyc -n sources")
    assert re.search(rf"^\^. +{re.escape(NTP_SERVER)} ", sources, re.MULTILINE), sources
    assert "pool.ntp.org" not in host.check_output("chronyc -N sources")


def test_chronyd_leaves_the_clock_alone_in_a_container(host):
    """The container has no CAP_SYS_TIME: chronyd must run with -x."""
    log = host.check_output("journalctl -b -u chrony --no-pager -o cat")
    assert "Disabled control of system clock" in log
    pid = host.check_output("systemctl show -p MainPID --value chrony")
    cmdline = host.file(f"/proc/{pid}/cmdline").content_string.split("\0")
    assert "-x" in cmdline


def test_journald_config_carries_the_limits(host):
    config = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert effective(config, "SystemMaxUse") == JOURNAL_MAX_USE
    assert effective(config, "MaxRetentionSec") == JOURNAL_RETENTION


def test_running_journald_applies_the_size_limit(host):
    assert host.service("systemd-journald").is_running
    log = host.check_output("journalctl -b -u systemd-journald --no-pager -o cat")
    reports = re.findall(r"^System Journal \(.*\) is \S+, max (\S+),", log, re.MULTILINE)
    assert reports, log
    assert size_in_bytes(reports[-1]) == size_in_bytes(JOURNAL_MAX_USE)


def test_unattended_upgrades_are_switched_on(host):
    config = host.check_output("apt-config dump")
    assert 'APT::Periodic::Update-Package-Lists "1";' in config
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    assert host.service("apt-daily.timer").is_enabled
    assert host.service("apt-daily-upgrade.timer").is_enabled
    assert host.service("apt-daily-upgrade.timer").is_running


def test_unattended_upgrade_dry_run_succeeds(host):
    result = host.run("unattended-upgrade --dry-run")
    assert result.rc == 0, result.stdout + result.stderr


def test_upgrade_reports_are_mailed_to_root(host):
    config = host.check_output("apt-config dump")
    assert 'Unattended-Upgrade::Mail "root";' in config


@pytest.mark.parametrize("package", sorted(PACKAGE_COMMANDS))
def test_essential_package_is_usable(host, package):
    result = host.run(PACKAGE_COMMANDS[package])
    assert result.rc == 0, result.stderr
