"""The firewall as other hosts see it: allowlist open, the rest dropped."""

import pytest
from fwprobe import (
    BASE_ACCEPTS,
    DECLARED_PORT,
    FAMILIES,
    GROUP_PORT_ANYWHERE,
    GROUP_PORT_FROM_PROBE,
    SSH_PORT,
    UNDECLARED_PORT,
    address,
    connects_from,
    connects_from_test_host,
    loaded_accepts,
    other_instance,
    release,
)


@pytest.mark.parametrize("family", FAMILIES)
def test_declared_port_answers_from_other_instance(host, family):
    assert connects_from(other_instance(host), address(host, family), DECLARED_PORT)


@pytest.mark.parametrize("family", FAMILIES)
def test_undeclared_port_blocked_from_other_instance(host, family):
    assert not connects_from(other_instance(host), address(host, family), UNDECLARED_PORT)


@pytest.mark.parametrize("family", FAMILIES)
def test_undeclared_port_answers_locally(host, family):
    # The listener is up: only the firewall keeps the other instance out.
    assert connects_from(host, address(host, family), UNDECLARED_PORT)


# The bookworm instance is in groups sc_web and sc_stream, each with a rule
# of its own (molecule.yml): both add up, neither wins over the other.
@pytest.mark.parametrize("port", [GROUP_PORT_ANYWHERE, GROUP_PORT_FROM_PROBE])
@pytest.mark.parametrize("family", FAMILIES)
def test_both_groups_ports_answer_from_other_instance(host, family, port):
    if release(host) != "bookworm":
        pytest.skip("only the bookworm instance is in the two groups")
    assert connects_from(other_instance(host), address(host, family), port)


# From outside every group (the test host): sc_web's rule names no source
# (open to anywhere); sc_stream's allows only sc_probe's hosts.
@pytest.mark.parametrize(
    ("port", "answers"), [(GROUP_PORT_ANYWHERE, True), (GROUP_PORT_FROM_PROBE, False)]
)
@pytest.mark.parametrize("family", FAMILIES)
def test_group_ports_from_outside_every_group(host, family, port, answers):
    if release(host) != "bookworm":
        pytest.skip("only the bookworm instance is in groups sc_web and sc_stream")
    assert connects_from_test_host(address(host, family), port) is answers


@pytest.mark.parametrize("port", [GROUP_PORT_ANYWHERE, GROUP_PORT_FROM_PROBE])
@pytest.mark.parametrize("family", FAMILIES)
def test_group_ports_blocked_on_host_outside_the_groups(host, family, port):
    # The trixie instance listens on them too, but is in neither group.
    if release(host) != "trixie":
        pytest.skip("the trixie instance is in neither sc_web nor sc_stream")
    assert connects_from(host, address(host, family), port)
    assert not connects_from(other_instance(host), address(host, family), port)


@pytest.mark.parametrize("family", FAMILIES)
def test_ssh_answers_from_allowed_source(host, family):
    if release(host) != "bookworm":
        pytest.skip("only the bookworm instance sets firewall_ssh_sources")
    assert connects_from(other_instance(host), address(host, family), SSH_PORT)


@pytest.mark.parametrize("family", FAMILIES)
def test_ssh_blocked_from_source_not_allowed(host, family):
    if release(host) != "bookworm":
        pytest.skip("only the bookworm instance sets firewall_ssh_sources")
    assert not connects_from_test_host(address(host, family), SSH_PORT)


@pytest.mark.parametrize("family", FAMILIES)
def test_ssh_answers_from_anywhere_by_default(host, family):
    if release(host) != "trixie":
        pytest.skip("the trixie instance keeps the default firewall_ssh_sources: []")
    assert connects_from_test_host(address(host, family), SSH_PORT)


def test_reload_and_restart_keep_other_tables(host):
    # Docker keeps its own tables; reloading or restarting our firewall must
    # replace only our table, never flush the whole ruleset.
    with host.sudo():
        host.check_output("nft add table ip sc_foreign")
        try:
            host.check_output("systemctl reload nftables")
            host.check_output("systemctl restart nftables")
            assert host.run("nft list table ip sc_foreign").rc == 0
            assert host.run("nft list table inet system_config_filter").rc == 0
        finally:
            host.run("nft delete table ip sc_foreign")


def test_loaded_ruleset_accepts_exactly_what_is_declared(host):
    # The whole chain as the kernel holds it, not one probed port: any
    # extra accept (another port, a wider source, a policy) shows here.
    declared = {("tcp", DECLARED_PORT, "anywhere")}
    if release(host) == "bookworm":
        other = other_instance(host)
        ssh_sources = tuple(sorted(address(other, family) for family in FAMILIES))
        # Both groups' rules; sc_stream's from sc_probe's addresses only.
        declared |= {
            ("tcp", GROUP_PORT_ANYWHERE, "anywhere"),
            ("tcp", GROUP_PORT_FROM_PROBE, ssh_sources),
        }
    else:
        ssh_sources = "anywhere"
    accepted, others = loaded_accepts(host)
    assert accepted == {("tcp", SSH_PORT, ssh_sources)} | declared
    assert others == BASE_ACCEPTS
    with host.sudo():
        chain = host.check_output("nft list chain inet system_config_filter input")
    assert "policy drop;" in chain
