"""Values that would lose root's mail or break exim are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

GOOD = {
    "mail_relay_smarthost": "127.0.0.2::2525",
    "mail_relay_root_address": "infra-root@example.org",
}
BAD = {
    "smarthost with a newline": {"mail_relay_smarthost": "smtp.example.org\n"},
    "smarthost with a quote": {
        "mail_relay_smarthost": "smtp.example.org'; dc_relay_nets='0.0.0.0/0"
    },
    "smarthost port 0": {"mail_relay_smarthost": "smtp.example.org::0"},
    "smarthost port above 65535": {"mail_relay_smarthost": "smtp.example.org::70000"},
    "smarthost localhost": {"mail_relay_smarthost": "localhost::25"},
    "smarthost this host": {"mail_relay_smarthost": "{{ inventory_hostname }}"},
    "root address root": {"mail_relay_root_address": "root"},
    "root address root at this host": {"mail_relay_root_address": "root@{{ inventory_hostname }}"},
    "root address a pipe": {"mail_relay_root_address": "|/bin/sh -c 'rm -rf /'"},
    "root address a file": {"mail_relay_root_address": "/etc/passwd"},
    "root address with a second line": {
        "mail_relay_root_address": "infra-root@example.org\nwww-data: |/bin/sh"
    },
    "root address local user": {"mail_relay_root_address": "infra-root@example.org, nobody"},
    "mail name with a quote": {"mail_relay_mailname": "host'.example.org"},
    "read host with a newline": {"mail_relay_readhost": "example.org\n"},
}
# Every case with converge.yml's required values, its own one wrong.
CASES = {name: {**GOOD, **bad} for name, bad in BAD.items()}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(host, "mail_relay", CASES, only_on="bookworm")


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, BAD) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome)
    config = host.file("/etc/exim4/update-exim4.conf.conf").content_string
    assert "dc_smarthost='127.0.0.2::2525'" in config
    assert "dc_relay_nets=''" in config
    assert "root: infra-root@example.org" in host.file("/etc/aliases").content_string.splitlines()
