"""Values that would damage the firewall are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

CASES = {
    "port above 65535": {"firewall_allowed_ports": [{"port": 70000}]},
    "port 0": {"firewall_allowed_ports": [{"port": 0}]},
    "negative port": {"firewall_allowed_ports": [{"port": -22}]},
    "address out of range": {
        "firewall_allowed_ports": [{"port": 8080, "sources": ["999.1.1.1/99"]}]
    },
    "prefix too long": {"firewall_allowed_ports": [{"port": 8080, "sources": ["10.0.0.0/33"]}]},
    "not an address": {"firewall_allowed_ports": [{"port": 8080, "sources": ["example.org"]}]},
    "ipv6 out of range": {"firewall_allowed_ports": [{"port": 8080, "sources": ["fd00::/129"]}]},
    "sources as a string": {"firewall_allowed_ports": [{"port": 8080, "sources": "10.0.0.1"}]},
    "ssh source out of range": {"firewall_ssh_sources": ["300.0.0.1"]},
    "ssh port 0": {"firewall_ssh_port": 0},
    "unknown source group": {
        "firewall_allowed_ports": [{"port": 8080, "source_groups": ["sc_no_such_group"]}]
    },
    "unknown ssh source group": {"firewall_ssh_source_groups": ["sc_no_such_group"]},
    "group rules outside the group": {"firewall_allowed_ports_sc_no_such_group": [{"port": 8080}]},
    # `molecule` is a group of the instance (the shared platform config).
    "group rules not a list": {"firewall_allowed_ports_molecule": "8080"},
    "group rule with a bad protocol": {
        "firewall_allowed_ports_molecule": [{"port": 8080, "proto": "sctp"}]
    },
}
# The variable each refusal must name: the one its case sets, unless listed.
VARIABLE = {
    "ssh source out of range": "firewall_ssh",
    "ssh port 0": "firewall_ssh",
}
# Cases whose message must also name the group at fault.
GROUP = {
    "unknown source group": "sc_no_such_group",
    "unknown ssh source group": "sc_no_such_group",
    "group rules outside the group": "sc_no_such_group",
}


@pytest.fixture(scope="module")
def outcome(host):
    ruleset = {"nft ruleset": lambda: host.check_output("nft list ruleset")}
    return refusals_on(host, "firewall", CASES, only_on="bookworm", probes=ruleset)


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, CASES, VARIABLE) in outcome.messages[case]
    assert GROUP.get(case, "") in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome):
    assert_nothing_changed(outcome)
