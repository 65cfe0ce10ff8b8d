"""Behaviour of the base_server role on each instance.

converge.yml names each instance srv-<release>.infra.example.org (unlike the
container's own name, so the test sees that the role set it), points chrony
at 127.0.0.1 only (no NTP traffic leaves the test network) and keeps every
other default: time zone UTC, journal limits 1G / 1month, unattended
upgrades on, reports to root.
"""

import re

import pytest
from scenario import converge_result, instance_names

from sctools import REPO_ROOT

testinfra_hosts = instance_names()

DOMAIN = "infra.example.org"
# The network sysctls the role sets (defaults/main.yml): per network
# namespace, so in effect inside the containers too.
NET_SYSCTLS = {
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.default.accept_redirects": "0",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.all.accept_source_route": "0",
    "net.ipv4.conf.all.log_martians": "1",
    "net.ipv4.conf.default.log_martians": "1",
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv6.conf.all.accept_redirects": "0",
    "net.ipv6.conf.default.accept_source_route": "0",
}
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


@pytest.fixture
def login_user(host):
    """A person's account made as useradd makes one, removed afterwards."""
    name = "probe"
    host.run(f"userdel -r {name}")
    host.check_output(f"useradd -m -s /bin/bash {name}")
    yield name
    host.run(f"pkill -KILL -u {name}; userdel -r {name}")


def test_new_home_directory_is_private(host, login_user):
    assert host.file(f"/home/{login_user}").mode & 0o077 == 0


def test_login_shell_files_are_not_world_readable(host, login_user):
    mode = host.check_output(f"su -l {login_user} -c 'touch ~/new-file && stat -c %a ~/new-file'")
    # umask 027 (/etc/profile.d; pam_umask's 007 on Debian 13 comes first).
    assert int(mode, 8) & 0o007 == 0, mode


def test_root_sessions_keep_umask_022(host):
    """Files the converge writes (as root, over ssh) stay readable by services."""
    assert host.check_output("su -l root -c umask") == "0022"


def test_login_session_has_a_private_tmpdir(host, login_user):
    uid = host.user(login_user).uid
    assert host.check_output(f"su -l {login_user} -c 'echo $TMPDIR'") == f"/tmp/user/{uid}"
    assert host.file(f"/tmp/user/{uid}").mode == 0o700


def test_idle_login_shell_ends_outside_tmux(host, login_user):
    assert host.check_output(f"su -l {login_user} -c 'echo $TMOUT'") == "900"
    inside_tmux = host.check_output(
        f"TMUX=/tmp/tmux-sock su -l {login_user} -w TMUX -c 'echo ${{TMOUT:-unset}}'"
    )
    assert inside_tmux == "unset"


def test_login_shells_dump_no_core(host, login_user):
    assert host.check_output(f"su -l {login_user} -c 'ulimit -Hc'") == "0"


@pytest.mark.parametrize("key", sorted(NET_SYSCTLS))
def test_network_sysctl_is_in_effect(host, key):
    assert host.check_output(f"sysctl -n {key}") == NET_SYSCTLS[key]


def test_host_kernel_sysctls_are_left_alone_in_a_container(host):
    settings = host.file("/etc/sysctl.d/60-system-config.conf").content_string
    keys = re.findall(r"^([a-z0-9_.-]+)\s*=", settings, re.MULTILINE)
    assert keys and all(key.startswith("net.") for key in keys), settings


def test_no_security_upgrade_is_pending(host):
    simulation = host.check_output("apt-get -s -o Debug::NoLocking=1 dist-upgrade")
    pending = [line for line in simulation.splitlines() if "Debian-Security:" in line]
    assert pending == []


def test_legal_banner_is_shown_before_login(host):
    assert "Authorized access only" in host.file("/etc/issue.net").content_string


# Last in this file: it applies users, sshd and firewall to the trixie instance.
def test_broken_dns_fails_the_host_naming_the_name_after_the_security_roles(host):
    """base.yaml on a host whose apt source does not resolve.

    The refresh fails, users, sshd and firewall still converge (a changed
    sshd setting applies, the firewall table is loaded), and the play fails
    the host at its end with apt's own words, naming deb.invalid.
    """
    name = host.backend.get_hostname()
    if not name.endswith("-trixie"):
        pytest.skip("checked on the trixie instance")
    broken = "/etc/apt/sources.list.d/zz-broken-dns.list"
    host.check_output(f"echo 'deb http://deb.invalid/debian trixie main' > {broken}")
    try:
        code, output = converge_result(
            name,
            {
                "base_server_hostname": f"srv-trixie.{DOMAIN}",
                "base_server_ntp_servers": [NTP_SERVER],
                "sshd_extra_settings": {"MaxSessions": 3},
                # The lists are fresh from the converge: refresh anyway.
                "base_server_apt_cache_valid_time": 0,
                # mail_relay's checks run with any tag; its tasks do not.
                "mail_relay_smarthost": "127.0.0.2::2525",
                "mail_relay_root_address": "infra-root@example.org",
            },
            playbook=str(REPO_ROOT / "playbooks" / "base.yaml"),
            tags=["base_server", "users", "sshd", "firewall"],
        )
    finally:
        host.run(f"rm -f {broken}")
    assert code != 0, output[-3000:]
    assert "Fail the hosts whose package lists" in output, output[-3000:]
    failure = output[output.index("Fail the hosts whose package lists") :]
    assert "could not be refreshed" in failure, output[-3000:]
    assert "deb.invalid" in failure, output[-3000:]
    assert "maxsessions 3" in host.check_output("/usr/sbin/sshd -T").splitlines()
    assert "system_config_filter" in host.check_output("nft list tables")
