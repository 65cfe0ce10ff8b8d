"""Values that would damage bridge (and through it every host) are refused before any change.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import os
from pathlib import Path

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

# Real public keys prepare.yml made (the provisioning one is already in
# root's authorized_keys on a line of its own).
KEYDIR = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
DEPLOY, OTHER, PROVISIONING = (
    (KEYDIR / f"{name}_key.pub").read_text().strip()
    for name in ("deploy", "other_deploy", "provisioning")
)
BLOB = DEPLOY.split()[1]
LOOPBACK = ["127.0.0.1"]


def deploy_keys(*entries, **fields):
    """bridge_deploy_keys: these entries, or one good one with `fields` changed (None drops it)."""
    if not entries:
        entry = {"name": "zuul-executor", "key": DEPLOY, "from": LOOPBACK, **fields}
        entries = ({k: v for k, v in entry.items() if v is not None},)
    return {"bridge_deploy_keys": list(entries)}


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
    "deploy keys a string": {"bridge_deploy_keys": DEPLOY},
    "deploy key with an unknown field": deploy_keys(form=LOOPBACK),
    "deploy key without a name": deploy_keys(name=None),
    "deploy key with an empty name": deploy_keys(name=""),
    "deploy key name not [a-z0-9-]": deploy_keys(name="Zuul_executor"),
    "deploy key names repeated": deploy_keys(
        {"name": "zuul", "key": DEPLOY, "from": LOOPBACK},
        {"name": "zuul", "key": OTHER, "from": LOOPBACK},
    ),
    "deploy key repeated": deploy_keys(
        {"name": "zuul", "key": DEPLOY, "from": LOOPBACK},
        {"name": "zuul-too", "key": DEPLOY, "from": LOOPBACK},
    ),
    "deploy key missing": deploy_keys(key=None),
    "deploy key with options": deploy_keys(key='from="*" ' + DEPLOY),
    "deploy key with a quote": deploy_keys(key=DEPLOY + ' a"b'),
    "deploy key two lines": deploy_keys(key=DEPLOY + "\n" + OTHER),
    "deploy key of an unknown type": deploy_keys(key="ssh-dss AAAAB3NzaC1kc3MAAACBAP8= old"),
    "deploy key with bad base64": deploy_keys(key=f"ssh-ed25519 {BLOB[:-2]}!! x"),
    "deploy key truncated": deploy_keys(key=f"ssh-ed25519 {BLOB[:40]}"),
    "deploy key of another type": deploy_keys(key=f"ssh-rsa {BLOB}"),
    "deploy key from missing": deploy_keys(**{"from": None}),
    "deploy key from empty": deploy_keys(**{"from": []}),
    "deploy key from a string": deploy_keys(**{"from": "127.0.0.1"}),
    "deploy key from a host name": deploy_keys(**{"from": ["zuul.example.org"]}),
    "deploy key from a pattern": deploy_keys(**{"from": ["10.0.0.*"]}),
    "deploy key from negated": deploy_keys(**{"from": ["!10.0.0.1"]}),
    "deploy key from anywhere ipv4": deploy_keys(**{"from": ["127.0.0.1", "0.0.0.0/0"]}),
    "deploy key from anywhere ipv6": deploy_keys(**{"from": ["::/0"]}),
    "deploy key from a bad address": deploy_keys(**{"from": ["10.0.0.256"]}),
    "deploy key on a line of its own": deploy_keys(key=PROVISIONING),
}
# The variable each refusal must name.
VARIABLE = {"private dir in the checkout": "bridge_private_dir"}
# Where the entry's own checks catch it: the entry (index, name) and field.
ENTRY_FIELD = {
    "deploy key without a name": "bridge_deploy_keys[0] name",
    "deploy key with an empty name": "bridge_deploy_keys[0] name",
    "deploy key name not [a-z0-9-]": "bridge_deploy_keys[0] name",
    "deploy key names repeated": "bridge_deploy_keys[1] (zuul) name repeats",
    "deploy key repeated": "bridge_deploy_keys[1] (zuul-too) key repeats",
    "deploy key missing": "bridge_deploy_keys[0] (zuul-executor) key",
    "deploy key with options": "bridge_deploy_keys[0] (zuul-executor) key",
    "deploy key with a quote": "bridge_deploy_keys[0] (zuul-executor) key",
    "deploy key two lines": "bridge_deploy_keys[0] (zuul-executor) key",
    "deploy key of an unknown type": "bridge_deploy_keys[0] (zuul-executor) key type ssh-dss",
    "deploy key with bad base64": "bridge_deploy_keys[0] (zuul-executor) key",
    "deploy key truncated": "bridge_deploy_keys[0] (zuul-executor) key base64",
    "deploy key of another type": "bridge_deploy_keys[0] (zuul-executor) key base64",
    "deploy key from missing": "bridge_deploy_keys[0] (zuul-executor) from",
    "deploy key from empty": "bridge_deploy_keys[0] (zuul-executor) from",
    "deploy key from a string": "bridge_deploy_keys[0] (zuul-executor) from",
    "deploy key from a host name": "bridge_deploy_keys[0] (zuul-executor) from",
    "deploy key from a pattern": "bridge_deploy_keys[0] (zuul-executor) from",
    "deploy key from negated": "bridge_deploy_keys[0] (zuul-executor) from",
    "deploy key from anywhere ipv4": "bridge_deploy_keys[0] (zuul-executor) from",
    "deploy key from anywhere ipv6": "bridge_deploy_keys[0] (zuul-executor) from",
    "deploy key from a bad address": "bridge_deploy_keys[0] (zuul-executor) from",
    "deploy key on a line of its own": "bridge_deploy_keys[0] (zuul-executor) key is already in",
}


@pytest.fixture(scope="module")
def outcome(host):
    crontab = {"root's crontab": lambda: host.check_output("crontab -l -u root")}
    files = ["/root/.ssh/authorized_keys"]
    return refusals_on(host, "bridge", CASES, only_on="bookworm", files=files, probes=crontab)


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, CASES, VARIABLE) in outcome.messages[case]


@pytest.mark.parametrize("case", ENTRY_FIELD)
def test_deploy_key_refusal_names_the_entry_and_field(outcome, case):
    assert ENTRY_FIELD[case] in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    directories = {"/": 0o755, "/etc": 0o755, "/var/log": 0o755, "/etc/ssh": 0o755}
    assert_nothing_changed(outcome, host, directories)
    assert not host.file("/opt/system-config/private").exists
    assert not host.file("/tmp/pwned").exists
