"""Values that would damage the host are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals) with the
converge's variables and one bad value, on one instance: the guards are
the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

# converge.yml's variables (the source is never read: the role stops first).
BASE = {
    "zuul_tenant_config_src": "/nonexistent/main.yaml",
    "zuul_tenant_config_reconfigure_command": [
        "/bin/sh",
        "-c",
        "echo reconfigured >> /var/log/zuul-reconfigure.log",
    ],
    "zuul_tenant_config_reconfigure_if_exists": "/etc/molecule-scheduler-deployed",
}
BAD = {
    "dest /etc/passwd": {"zuul_tenant_config_dest": "/etc/passwd"},
    "dest escaping /etc/zuul": {"zuul_tenant_config_dest": "/etc/zuul/../passwd.yaml"},
    "dest in /tmp": {"zuul_tenant_config_dest": "/tmp/main.yaml"},
    "dest zuul.conf": {"zuul_tenant_config_dest": "/etc/zuul/zuul.conf"},
    "dest the site variables": {"zuul_tenant_config_dest": "/etc/zuul/site-variables.yaml"},
    "dest relative": {"zuul_tenant_config_dest": "main.yaml"},
    "check path python3": {"zuul_tenant_config_check_path": "/usr/bin/python3"},
    "check path relative": {"zuul_tenant_config_check_path": "zuul-tenant-config-check"},
    "connections as a string": {"zuul_tenant_config_connections": "gerrit,git"},
    "connection with a space": {"zuul_tenant_config_connections": ["gerrit --help"]},
    "reconfigure command as a string": {
        "zuul_tenant_config_reconfigure_command": "zuul-scheduler smart-reconfigure"
    },
    "reconfigure command empty": {"zuul_tenant_config_reconfigure_command": []},
    "reconfigure if exists relative": {
        "zuul_tenant_config_reconfigure_if_exists": "etc/zuul-scheduler/docker-compose.yaml"
    },
}
CASES = {case: BASE | bad for case, bad in BAD.items()}


@pytest.fixture(scope="module")
def outcome(host):
    # The reconfigure log too: a reconfigure would add a line to it.
    files = [
        "/etc/zuul/main.yaml",
        "/etc/passwd",
        "/usr/bin/python3",
        "/var/log/zuul-reconfigure.log",
    ]
    return refusals_on(host, "zuul_tenant_config", CASES, only_on="bookworm", files=files)


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, BAD) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome, host, {"/tmp": 0o1777})
    assert not host.file("/tmp/main.yaml").exists
