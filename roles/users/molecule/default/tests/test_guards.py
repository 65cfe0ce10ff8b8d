"""Values that would damage a host are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake x@y"
CASES = {
    "root removed": {"users_accounts": [{"name": "root", "uid": 0, "state": "absent"}]},
    "system account by name": {
        "users_accounts": [{"name": "daemon", "uid": 3001, "state": "absent"}]
    },
    "name read as an option": {"users_accounts": [{"name": "-rf", "uid": 3002}]},
    "negative uid": {"users_accounts": [{"name": "eve", "uid": -1}]},
    "name ending in a newline": {"users_accounts": [{"name": "eve\n", "uid": 3003}]},
    "not a key": {"users_accounts": [{"name": "eve", "uid": 3004, "ssh_keys": ["not a key"]}]},
    "two keys in one": {
        "users_accounts": [{"name": "eve", "uid": 3005, "ssh_keys": [KEY + "\n" + KEY]}]
    },
    "accounts as a string": {"users_accounts": "eve"},
    "sudo group root": {"users_sudo_group": "root"},
}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(host, "users", CASES, only_on="bookworm")


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, CASES) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome)
    assert host.user("root").uid == 0
    assert host.user("daemon").exists
    assert not host.file("/etc/sudoers.d/root").exists
