"""Values that would break MariaDB or open it are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

USER = {
    "name": "etherpad",
    "password": "converge-etherpad-password",
    "privileges": ["etherpad.*:ALL"],
}
GOOD = {
    "mariadb_databases": [{"name": "etherpad"}, {"name": "other_app"}],
    "mariadb_users": [USER],
}


def user(**values):
    return [{**USER, **values}]


BAD = {
    "bind address a name": {"mariadb_bind_address": "localhost"},
    "bind address a network": {"mariadb_bind_address": "127.0.0.0/8"},
    "bind address every interface": {"mariadb_bind_address": "0.0.0.0"},
    "bind address every IPv6 interface": {"mariadb_bind_address": "::"},
    "bind address with a second line": {"mariadb_bind_address": "127.0.0.1\nskip-grant-tables"},
    "port 0": {"mariadb_port": 0},
    "port above 65535": {"mariadb_port": 70000},
    "database name with a dash": {"mariadb_databases": [{"name": "ether-pad"}]},
    "database name with a backquote": {"mariadb_databases": [{"name": "etherpad`; DROP"}]},
    "database name empty": {"mariadb_databases": [{"name": ""}]},
    "database twice": {"mariadb_databases": [{"name": "etherpad"}, {"name": "EtherPad"}]},
    "database mysql": {"mariadb_databases": [{"name": "mysql"}]},
    "databases a string": {"mariadb_databases": "etherpad"},
    "charset with a quote": {"mariadb_databases": [{"name": "etherpad", "charset": "utf8'"}]},
    "user name with an at sign": {"mariadb_users": user(name="etherpad@localhost")},
    "user name with a newline": {"mariadb_users": user(name="etherpad\n")},
    "user root": {"mariadb_users": user(name="root")},
    "user twice": {"mariadb_users": user() + user(password="another-password")},
    "user password empty": {"mariadb_users": user(password="")},
    "user password missing": {"mariadb_users": [{"name": "etherpad"}]},
    "user host a pattern": {"mariadb_users": user(host="%")},
    "user host a name": {"mariadb_users": user(host="db.example.org")},
    "privilege without a table": {"mariadb_users": user(privileges=["etherpad:ALL"])},
    "privilege without privileges": {"mariadb_users": user(privileges=["etherpad.*"])},
    "privilege global": {"mariadb_users": user(privileges=["*.*:ALL"])},
    "privilege grant option": {"mariadb_users": user(privileges=["etherpad.*:ALL,GRANT OPTION"])},
    "privilege unknown": {"mariadb_users": user(privileges=["etherpad.*:SUPER"])},
    "privilege on mysql": {"mariadb_users": user(privileges=["mysql.*:SELECT"])},
    "privileges a string": {"mariadb_users": user(privileges="etherpad.*:ALL")},
}
# Every case with converge.yml's values, its own one wrong.
CASES = {name: {**GOOD, **bad} for name, bad in BAD.items()}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(
        host,
        "mariadb",
        CASES,
        only_on="bookworm",
        files=["/etc/mysql/mariadb.conf.d/60-system-config.cnf"],
    )


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, BAD) in outcome.messages[case]


def test_no_password_is_shown_in_a_refusal(outcome):
    assert "converge-etherpad-password" not in outcome.output
    assert "another-password" not in outcome.output


def test_nothing_changed_or_would_have(outcome):
    assert_nothing_changed(outcome)
