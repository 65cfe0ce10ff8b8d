"""Values that would damage the host or the ensemble are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals) with the
converge's one-member ensemble and one bad value.
"""

import pytest
import yaml
from scenario import assert_nothing_changed, refusals_on, variable_of

from sctools import REPO_ROOT

# The site-wide ports (required by the role, no default), from their one
# home, group_vars/all.yaml, as converge does.
SITE = yaml.safe_load((REPO_ROOT / "group_vars" / "all.yaml").read_text())
PORTS = {
    name: SITE[name] for name in SITE if name.startswith("zookeeper_") and name.endswith("_port")
}

# converge.yml's variables, with a literal image (the refusal play gathers
# no facts, and the role stops before it would pull).
BASE = {
    "zookeeper_image": "registry.example.org:5000/system-config/zookeeper:latest",
    "zookeeper_ensemble": ["{{ inventory_hostname }}"],
    "zookeeper_myid": 1,
    **PORTS,
}
# zkN.example.org's server id is N (its name).
BAD = {
    "image with a space": {"zookeeper_image": "zookeeper latest"},
    "image ending in a newline": {"zookeeper_image": "zookeeper:3.9\n"},
    "ensemble as a string": {"zookeeper_ensemble": "{{ inventory_hostname }}"},
    "ensemble host with a newline": {
        "zookeeper_ensemble": [
            "{{ inventory_hostname }}",
            "zk2.example.org\nserver.9=evil.example.org",
            "zk3.example.org",
        ]
    },
    "ensemble host with a space": {
        "zookeeper_ensemble": ["{{ inventory_hostname }}", "zk2 example.org", "zk3.example.org"]
    },
    "ensemble of two": {"zookeeper_ensemble": ["{{ inventory_hostname }}", "zk2.example.org"]},
    "ensemble without this host": {
        "zookeeper_ensemble": ["zk1.example.org", "zk2.example.org", "zk3.example.org"]
    },
    "myid 0": {"zookeeper_myid": 0},
    "myid 256": {"zookeeper_myid": 256},
    "myid repeated": {
        "zookeeper_ensemble": ["{{ inventory_hostname }}", "zk1.example.org", "zk3.example.org"]
    },
    "myid with a newline": {"zookeeper_myid": "1\n"},
    "quorum port 0": {"zookeeper_quorum_port": 0},
    "admin port above 65535": {"zookeeper_admin_port": 70000},
    "election port same as quorum": {"zookeeper_election_port": PORTS["zookeeper_quorum_port"]},
    "tick time 0": {"zookeeper_tick_time": 0},
    "4lw wildcard": {"zookeeper_4lw_commands": ["*"]},
    "4lw as a string": {"zookeeper_4lw_commands": "ruok,srvr"},
    "extra key with a newline": {"zookeeper_config_extra": {"maxClientCnxns=1\nserver.9": "x"}},
    "extra overriding dataDir": {"zookeeper_config_extra": {"dataDir": "/"}},
    "extra value with a newline": {"zookeeper_config_extra": {"maxClientCnxns": "1\nsslQuorum=no"}},
}
CASES = {case: BASE | bad for case, bad in BAD.items()}
# The variable each refusal must name: the first its bad values set, unless listed.
VARIABLE = {"myid repeated": "zookeeper_myid"}


@pytest.fixture(scope="module")
def outcome(host):
    files = ["/etc/zookeeper/zoo.cfg", "/var/lib/zookeeper/myid"]
    return refusals_on(host, "zookeeper", CASES, files=files)


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, BAD, VARIABLE) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome)
    assert host.file("/var/lib/zookeeper/myid").content_string == "1"
    assert "server.9" not in host.file("/etc/zookeeper/zoo.cfg").content_string
