"""Who may ssh to bridge: group_vars/bridge.yaml, evaluated by Ansible itself.

Zuul's executors run the production jobs on bridge as root with their key
(docs/zuul-cd.md). In every inventory with executors, bridge's firewall
opens ssh to them and the bridge role authorises their key from their own
addresses only, both derived from the inventory; the public key comes from
bridge's private variables, and without it the play fails naming it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from sctools import REPO_ROOT

os.environ.setdefault("ANSIBLE_CONFIG", str(REPO_ROOT / "ansible.cfg"))

from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.plugins.loader import init_plugin_loader  # noqa: E402
from ansible.template import Templar  # noqa: E402
from ansible.vars.hostvars import HostVars  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

init_plugin_loader()

# inventory/groups.yaml's patterns ('ze\d+\.') are Jinja strings: Jinja's
# lexer warns of their escapes once per host and group.
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")

GROUPS = REPO_ROOT / "inventory" / "groups.yaml"
INVENTORIES = {
    "production": REPO_ROOT / "inventory" / "production" / "hosts.yaml",
    "local": REPO_ROOT / "inventory" / "local" / "hosts.yaml",
}
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPxfC/Dx2EDbf5GQSCHuDk5c/V5YZFXoHNLVyvSeppfI ze"


def bridge_values(hosts_file: Path, names: list[str], **private) -> dict:
    """The variables `names` of the inventory's bridge, templated as a play would."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(hosts_file), str(GROUPS)])
    variables = VariableManager(loader=loader, inventory=inventory)
    HostVars(inventory=inventory, variable_manager=variables, loader=loader)  # sets hostvars
    (bridge,) = inventory.get_groups_dict()["bridge"]
    values = variables.get_vars(host=inventory.get_host(bridge)) | private
    templar = Templar(loader=loader, variables=values)
    return {name: templar.template(values[name]) for name in names}


def executor_addresses(hosts_file: Path) -> list[str]:
    """public_v4 and public_v6 of every ze host, read from the file itself."""
    hosts = yaml.safe_load(hosts_file.read_text())["all"]["hosts"]
    return [
        address
        for name, host in hosts.items()
        if re.match(r"ze\d+\.", name)
        for address in (host["public_v4"], host["public_v6"])
    ]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_bridge_opens_ssh_to_the_executors_and_authorises_their_key(inventory):
    hosts_file = INVENTORIES[inventory]
    assert executor_addresses(hosts_file), f"{inventory} has no executor"
    values = bridge_values(
        hosts_file,
        ["firewall_ssh_source_groups", "bridge_deploy_keys"],
        zuul_executor_ssh_public_key=PUBLIC_KEY,
    )
    assert values["firewall_ssh_source_groups"] == ["zuul_executor"]
    assert values["bridge_deploy_keys"] == [
        {"name": "zuul-executor", "key": PUBLIC_KEY, "from": executor_addresses(hosts_file)}
    ]


def test_an_unset_public_key_fails_naming_it_and_where_it_goes():
    with pytest.raises(Exception, match="zuul_executor_ssh_public_key is not set") as error:
        bridge_values(INVENTORIES["production"], ["bridge_deploy_keys"])
    assert "group_vars/bridge.yaml" in str(error.value)


def test_an_inventory_without_executors_needs_no_key_and_opens_nothing(tmp_path):
    hosts_file = tmp_path / "hosts.yaml"
    hosts_file.write_text(
        "all:\n  vars:\n    site_operator_ssh_sources: [192.0.2.0/24]\n"
        "  hosts:\n    bridge01.example.org:\n      public_v4: 203.0.113.10\n"
    )
    values = bridge_values(hosts_file, ["firewall_ssh_source_groups", "bridge_deploy_keys"])
    assert values == {"firewall_ssh_source_groups": [], "bridge_deploy_keys": []}
