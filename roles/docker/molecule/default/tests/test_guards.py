"""Values that would damage the host or dockerd are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals), on the
scenario's one instance (Debian 13: the role supports nothing else).
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

CASES = {
    "packages as a string": {"docker_packages": "docker.io,docker-compose"},
    "package read as an option": {"docker_packages": ["docker.io", "--purge"]},
    "mirrors as a string": {"docker_registry_mirrors": "https://mirror.example.org:4445/"},
    "mirror with a path": {"docker_registry_mirrors": ["https://mirror.example.org/v2/"]},
    "mirror with a user": {"docker_registry_mirrors": ["https://me@mirror.example.org/"]},
    "mirror with a newline": {"docker_registry_mirrors": ["https://mirror.example.org/\n"]},
    "mirror port above 65535": {"docker_registry_mirrors": ["https://mirror.example.org:70000/"]},
    "ipv6 subnet everything": {"docker_ipv6_fixed_cidr": "::/0"},
    "ipv6 subnet global": {"docker_ipv6_fixed_cidr": "2001:db8::/64"},
    "ipv6 subnet with host bits": {"docker_ipv6_fixed_cidr": "fd00:d0c::1/64"},
    "ipv6 subnet too small": {"docker_ipv6_fixed_cidr": "fd00:d0c::/120"},
    "ipv6 subnet not an address": {"docker_ipv6_fixed_cidr": "fd00:d0c::/64\n"},
    "log size 0": {"docker_log_max_size": "0m"},
    "log size without a unit": {"docker_log_max_size": "50"},
    "log files 0": {"docker_log_max_file": 0},
    "users as a string": {"docker_users": "deployer"},
    "user read as an option": {"docker_users": ["-o"]},
    "user that does not exist": {"docker_users": ["nosuchuser"]},
    "user a service account": {"docker_users": ["www-data"]},
}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(host, "docker", CASES, only_on="trixie", files=["/etc/docker/daemon.json"])


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, CASES) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome)
    assert not host.user("nosuchuser").exists
    assert "docker" not in host.user("www-data").groups
    assert host.service("docker").is_running
