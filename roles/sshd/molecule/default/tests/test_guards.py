"""Values that would lock everyone out are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

SSHD_CONFIG = "/etc/ssh/sshd_config"
CASES = {
    "port 0": {"sshd_port": 0},
    "port above 65535": {"sshd_port": 70000},
    "port with a newline": {"sshd_port": "22\n"},
    "port the firewall does not open": {"sshd_port": 2222},
    "root login no": {"sshd_permit_root_login": "no"},
    "allow groups as a string": {"sshd_allow_groups": "root,ssh-users"},
    "allow groups without root": {"sshd_allow_groups": ["ssh-users"]},
    "allow group with a space": {"sshd_allow_groups": ["root ssh-users"]},
    "extra password login": {"sshd_extra_settings": {"PasswordAuthentication": True}},
    "extra port": {"sshd_extra_settings": {"Port": 2222}},
    "extra no public keys": {"sshd_extra_settings": {"pubkeyauthentication": "no"}},
    "extra other key file": {"sshd_extra_settings": {"AuthorizedKeysFile": "/dev/null"}},
    "extra deny root": {"sshd_extra_settings": {"DenyUsers": "root"}},
    "extra value of two lines": {
        "sshd_extra_settings": {"MaxSessions": "4\nPasswordAuthentication yes"}
    },
    "extra keyword with a space": {"sshd_extra_settings": {"MaxSessions 4\nPort": 2222}},
}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(host, "sshd", CASES, only_on="bookworm", files=[SSHD_CONFIG])


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, CASES) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome)
    assert host.service("ssh").is_running
    effective = host.check_output("/usr/sbin/sshd -T").splitlines()
    assert "port 22" in effective
    assert "passwordauthentication no" in effective
