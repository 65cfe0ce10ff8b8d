"""Values that would damage a client or a server are refused before either role changes anything.

Every case runs the whole role in check mode (sctools.refusals): the
server role's on the Debian 12 instance, the client role's on the
Debian 13 one (the guards are the same on both releases).
"""

import pytest
from scenario import assert_nothing_changed, instance_names, refusals_on, variable_of

SERVERS = sorted(instance_names())
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJrxdTmvLmWRA+8l+oJIdNIrXMqKKI5NxNcuHy2KIxv9"
SERVER_GOOD = {"borg_backup_server_clients": [{"name": "guard-client", "public_key": KEY}]}
SERVER_BAD = {
    "root relative": {"borg_backup_server_root": "opt/backups"},
    "root /": {"borg_backup_server_root": "/"},
    "root /etc": {"borg_backup_server_root": "/etc/backups"},
    "root /opt": {"borg_backup_server_root": "/opt"},
    "root with ..": {"borg_backup_server_root": "/opt/../etc"},
    "root with a newline": {"borg_backup_server_root": "/opt/backups\n"},
    "clients a string": {"borg_backup_server_clients": "guard-client"},
    "client name root": {"borg_backup_server_clients": [{"name": "Root", "public_key": KEY}]},
    "client name with a slash": {
        "borg_backup_server_clients": [{"name": "a/../../etc", "public_key": KEY}]
    },
    "client name too long": {"borg_backup_server_clients": [{"name": "a" * 28, "public_key": KEY}]},
    "client named twice": {"borg_backup_server_clients": [{"name": "a", "public_key": KEY}] * 2},
    "key with a second line": {
        "borg_backup_server_clients": [{"name": "a", "public_key": KEY + "\nssh-ed25519 AAAA evil"}]
    },
    "key with options": {
        "borg_backup_server_clients": [{"name": "a", "public_key": 'command="sh" ' + KEY}]
    },
    "group root": {"borg_backup_server_group": "root"},
    "keep nothing": {
        "borg_backup_server_keep_daily": 0,
        "borg_backup_server_keep_weekly": 0,
        "borg_backup_server_keep_monthly": 0,
    },
    "keep negative": {"borg_backup_server_keep_daily": -1},
    "calendar with a newline": {"borg_backup_server_prune_on_calendar": "daily\nExecStart=/bin/sh"},
}
CLIENT_GOOD = {"borg_backup_servers": SERVERS}
CLIENT_BAD = {
    "name with a dot": {"borg_backup_name": "host.example"},
    "name too long": {"borg_backup_name": "a" * 28},
    "servers a string": {"borg_backup_servers": SERVERS[0]},
    "servers empty": {"borg_backup_servers": []},
    "server not in the inventory": {"borg_backup_servers": ["nowhere.example.org"]},
    "server with a space": {"borg_backup_servers": [SERVERS[0] + " -oProxyCommand=sh"]},
    "paths a string": {"borg_backup_paths": "/etc"},
    "path relative": {"borg_backup_paths": ["etc"]},
    "path with ..": {"borg_backup_paths": ["/srv/../etc"]},
    "path with a newline": {"borg_backup_paths": ["/etc\n/root"]},
    "streams a mapping": {"borg_backup_streams": {"name": "db", "command": "true"}},
    "stream name with a space": {"borg_backup_streams": [{"name": "my db", "command": "true"}]},
    "stream named filesystem": {"borg_backup_streams": [{"name": "filesystem", "command": "true"}]},
    "stream command of two lines": {
        "borg_backup_streams": [{"name": "db", "command": "true\nrm -rf /"}]
    },
    "stream command empty": {"borg_backup_streams": [{"name": "db", "command": " "}]},
    "calendar with a newline": {"borg_backup_on_calendar": "daily\nExecStart=/bin/sh"},
}
SERVER_CASES = {name: {**SERVER_GOOD, **bad} for name, bad in SERVER_BAD.items()}
CLIENT_CASES = {name: {**CLIENT_GOOD, **bad} for name, bad in CLIENT_BAD.items()}


@pytest.fixture(scope="module")
def server_outcome(host):
    return refusals_on(host, "borg_backup_server", SERVER_CASES, only_on="bookworm")


@pytest.fixture(scope="module")
def client_outcome(host):
    return refusals_on(host, "borg_backup", CLIENT_CASES, only_on="trixie")


@pytest.mark.parametrize("case", SERVER_CASES)
def test_dangerous_server_value_is_refused_naming_the_variable(server_outcome, case):
    assert variable_of(case, SERVER_BAD) in server_outcome.messages[case]


@pytest.mark.parametrize("case", CLIENT_CASES)
def test_dangerous_client_value_is_refused_naming_the_variable(client_outcome, case):
    assert variable_of(case, CLIENT_BAD) in client_outcome.messages[case]


def test_nothing_changed_on_the_server_or_would_have(server_outcome, host):
    assert_nothing_changed(server_outcome)
    assert not host.user("borg-guard-client").exists
    assert not host.file("/opt/backups/borg-guard-client").exists


def test_nothing_changed_on_the_client_or_would_have(client_outcome, host):
    assert_nothing_changed(client_outcome)
