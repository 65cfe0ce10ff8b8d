"""Values that would damage the host or the CA are refused before the role makes anything.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

CASES = {
    "dest /": {"internal_ca_dest": "/"},
    "dest /tmp": {"internal_ca_dest": "/tmp"},
    "dest under /tmp": {"internal_ca_dest": "/tmp/tls"},
    "dest a home": {"internal_ca_dest": "/home/alice"},
    "dest /etc/ssl/private": {"internal_ca_dest": "/etc/ssl/private"},
    "dest relative": {"internal_ca_dest": "etc/zookeeper/tls"},
    "dest escaping": {"internal_ca_dest": "/etc/zookeeper/../../usr"},
    "dest with a trailing slash": {"internal_ca_dest": "/etc/zuul/tls/"},
    "dir /etc": {"internal_ca_dir": "/etc"},
    "dir under /usr": {"internal_ca_dir": "/usr/local/internal-ca"},
    "owner with a newline": {"internal_ca_owner": "zuul\n"},
    "group read as an option": {"internal_ca_group": "-g"},
    "names as a string": {"internal_ca_names": "zk01.example.org"},
    "name with a newline": {"internal_ca_names": ["zk01.example.org\n"]},
    "authority name of two lines": {"internal_ca_authority_name": "CA\nOU=evil"},
    "renew days 0": {"internal_ca_renew_days": 0},
    "valid days below renew days": {"internal_ca_valid_days": 20},
    "authority valid days beyond a century": {"internal_ca_authority_valid_days": 100000},
    # Refused by argument_specs or the guards alike (these were one converge each).
    "dest empty": {"internal_ca_dest": ""},
    "names empty": {"internal_ca_names": []},
    "name not a host name": {"internal_ca_names": ["zk01.example.org", "not a host name"]},
    "address not an address": {"internal_ca_names": ["fd00:::1"]},
    "owner empty": {"internal_ca_owner": ""},
    "renew days not a number": {"internal_ca_renew_days": "soon"},
    "key size 1024": {"internal_ca_key_size": 1024},
}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(host, "internal_ca", CASES, only_on="bookworm")


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, CASES) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome, host, {"/tmp": 0o1777, "/": 0o755})
