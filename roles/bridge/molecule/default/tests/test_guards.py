"""Values that would damage bridge (and through it every host) are refused before any change.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

CASES = {
    "checkout path /": {"bridge_checkout_path": "/"},
    "checkout path relative": {"bridge_checkout_path": "opt/system-config"},
    "venv path /usr": {"bridge_venv_path": "/usr"},
    "venv path under /usr": {"bridge_venv_path": "/usr/local"},
    "private dir /etc": {"bridge_private_dir": "/etc"},
    "private dir escaping": {"bridge_private_dir": "/etc/system-config/../.."},
    "private dir in the checkout": {"bridge_private_dir": "/opt/system-config/private"},
    "private dir under /tmp": {"bridge_private_dir": "/tmp/private"},
    "log dir /var/log": {"bridge_log_dir": "/var/log"},
    "log dir with a percent": {"bridge_log_dir": "/var/log/run-all-%d"},
    "ssh key path in /etc/ssh": {"bridge_ssh_key_path": "/etc/ssh/ssh_host_ed25519_key"},
    "inventories as a string": {"bridge_inventories": "/opt/system-config/inventory/groups.yaml"},
    "inventory relative": {"bridge_inventories": ["inventory/production/hosts.yaml"]},
    "inventory with a newline": {
        "bridge_inventories": ["/opt/system-config/inventory/groups.yaml\n* * * * * root id"]
    },
    "repo url plain http": {"bridge_repo_url": "http://opendev.example.org/opendev/system-config"},
    "repo url git protocol": {"bridge_repo_url": "git://opendev.example.org/system-config"},
    "repo url a command": {"bridge_repo_url": "ext::sh -c touch% /tmp/pwned"},
    "repo version an option": {"bridge_repo_version": "--upload-pack=touch /tmp/pwned"},
    "cron minute 60": {"bridge_cron_minute": "60"},
    "cron minute with a second line": {"bridge_cron_minute": "0\n* * * * * root id"},
    "cron hour 24": {"bridge_cron_hour": "0,24"},
    "cron hour two fields": {"bridge_cron_hour": "* *"},
    "pip index plain http": {
        "bridge_pip_environment": {"PIP_INDEX_URL": "http://pypi.example.org/simple"}
    },
    "pip trusted host": {"bridge_pip_environment": {"PIP_TRUSTED_HOST": "pypi.example.org"}},
}
# The variable each refusal must name.
VARIABLE = {"private dir in the checkout": "bridge_private_dir"}


@pytest.fixture(scope="module")
def outcome(host):
    crontab = {"root's crontab": lambda: host.check_output("crontab -l -u root")}
    return refusals_on(host, "bridge", CASES, only_on="bookworm", probes=crontab)


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, CASES, VARIABLE) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    directories = {"/": 0o755, "/etc": 0o755, "/var/log": 0o755, "/etc/ssh": 0o755}
    assert_nothing_changed(outcome, host, directories)
    assert not host.file("/opt/system-config/private").exists
    assert not host.file("/tmp/pwned").exists
