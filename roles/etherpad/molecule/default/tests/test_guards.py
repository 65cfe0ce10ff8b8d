"""Values that would damage the host or break the site are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals).
"""

import pytest
from scenario import assert_nothing_changed, instance_names, refusals_on, variable_of

testinfra_hosts = instance_names()

GOOD = {
    "etherpad_image": "registry.example.org:5000/system-config/etherpad:1",
    "etherpad_db_password": "a-good-password",
    "etherpad_api_key": "a-good-api-key-0123456789",
}
BAD = {
    "image with a space": {"etherpad_image": "etherpad:1 --privileged"},
    "image with a dollar": {"etherpad_image": "etherpad:${TAG}"},
    "hostnames a string": {"etherpad_hostnames": "pad.example.org"},
    "hostnames empty": {"etherpad_hostnames": []},
    "hostname with a space": {"etherpad_hostnames": ["pad.example.org evil.example.org"]},
    "hostname with a newline": {
        "etherpad_hostnames": ["pad.example.org\nProxyPass / http://evil/"]
    },
    "hostname a wildcard": {"etherpad_hostnames": ["*.example.org"]},
    "hostname twice": {"etherpad_hostnames": ["pad.example.org", "pad.example.org"]},
    "certificate name ..": {"etherpad_certificate_name": ".."},
    "certificate name with a slash": {"etherpad_certificate_name": "a/b"},
    "port 443": {"etherpad_port": 443},
    "port 0": {"etherpad_port": 0},
    "port 70000": {"etherpad_port": 70000},
    "db port 70000": {"etherpad_db_port": 70000},
    "db port equal to etherpad's": {"etherpad_db_port": 9001},
    "db host with a space": {"etherpad_db_host": "db.example.org; rm -rf /"},
    "db name with a quote": {"etherpad_db_name": "ether'pad"},
    "db user with a dash": {"etherpad_db_user": "ether-pad"},
    "db password empty": {"etherpad_db_password": ""},
    "api key short": {"etherpad_api_key": "short"},
    "api key with a newline": {"etherpad_api_key": "a-good-api-key-0123456789\nmore"},
    "title with a newline": {"etherpad_title": "Pads\n</title>"},
    "wait timeout 0": {"etherpad_wait_timeout": 0},
    "restart attempts 0": {"etherpad_restart_attempts": 0},
}
OVERRIDES = {
    "db port equal to etherpad's": "etherpad_db_port",
}
CASES = {name: {**GOOD, **bad} for name, bad in BAD.items()}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(
        host,
        "etherpad",
        CASES,
        files=["/etc/etherpad/settings.json", "/etc/apache2/sites-available/etherpad-https.conf"],
    )


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, BAD, OVERRIDES) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome):
    assert_nothing_changed(outcome)
