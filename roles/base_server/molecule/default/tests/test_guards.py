"""Values that would damage the host are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

CASES = {
    "hostname with a newline": {"base_server_hostname": "srv.example.org\n"},
    "hostname with a space": {"base_server_hostname": "srv example.org"},
    "hostname read as an option": {"base_server_hostname": "-F"},
    "packages as a string": {"base_server_packages": "curl,less"},
    "package read as an option": {"base_server_packages": ["curl", "--purge"]},
    "ntp servers as a string": {"base_server_ntp_servers": "0.debian.pool.ntp.org"},
    "no ntp servers": {"base_server_ntp_servers": []},
    "ntp server with a directive": {"base_server_ntp_servers": ["127.0.0.1 iburst\nallow all"]},
    "journal size 0": {"base_server_journald_system_max_use": "0"},
    "journal size not a size": {"base_server_journald_system_max_use": "lots"},
    "retention not a time span": {"base_server_journald_max_retention": "1 fortnight"},
    "mail breaking out of its quotes": {
        "base_server_unattended_upgrades_mail": 'root"; APT::Periodic::Unattended-Upgrade "0'
    },
    "time zone escaping": {"base_server_timezone": "../../../etc/passwd"},
    "time zone unknown": {"base_server_timezone": "Mars/Olympus_Mons"},
    "time zone a directory": {"base_server_timezone": "Europe"},
    "login umask letting others write": {"base_server_login_umask": "020"},
    "kernel key among the network sysctls": {"base_server_net_sysctls": {"kernel.sysrq": 0}},
    "sysctl value with a second line": {
        "base_server_kernel_sysctls": {"kernel.sysrq": "0\nkernel.modules_disabled=1"}
    },
    "banner empty": {"base_server_legal_banner": ""},
    "idle logout of seconds": {"base_server_idle_logout": 5},
}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(host, "base_server", CASES, only_on="bookworm")


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, CASES) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome)
    assert host.check_output("readlink /etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert host.check_output("hostname") == "srv-bookworm"
    assert "allow all" not in host.file("/etc/chrony/chrony.conf").content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in host.check_output("apt-config dump")
