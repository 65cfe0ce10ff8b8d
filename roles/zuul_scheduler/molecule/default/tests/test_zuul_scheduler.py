"""Behaviour of the zuul_scheduler role: a real scheduler on a real ZooKeeper.

prepare.yml made the instance a docker host with our images, installed TLS
(internal_ca), started ZooKeeper (TLS only), created the config project
/srv/git/opendev/project-config (a pipeline `check`, a job), installed
main.yaml with the tenant `example` (zuul_tenant_config), wrote zuul.conf
(zuul_config) and started a merger (zuul_merger): the scheduler loads
configuration through mergers. converge.yml applied zuul_config and
zuul_scheduler; molecule's idempotence step converged again.

What the scheduler did is read from ZooKeeper with Zuul's own client, run
in the scheduler container: the components registry and the tenants'
layout states. Tests that converge again put the original state back.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml

from sctools.molecule_all import converge_instance

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

SCENARIO_DIR = Path(__file__).resolve().parents[1]
ZUUL_CONFIG_SCENARIO = SCENARIO_DIR.parents[2] / "zuul_config" / "molecule" / "default"
TENANTS = ZUUL_CONFIG_SCENARIO / "files" / "tenants.yaml"
COMPOSE = "docker compose -f /etc/zuul-scheduler/docker-compose.yaml"

# Zuul's ZooKeeper client, configured from zuul.conf as the services do:
# the components registry and, per tenant, its layout state and pipelines.
ZK_DUMP = """
import configparser, json
from zuul.zk import ZooKeeperClient
config = configparser.ConfigParser()
config.read("/etc/zuul/zuul.conf")
zk = ZooKeeperClient.fromConfig(config)
zk.connect()
k = zk.client
def children(path):
    return sorted(k.get_children(path)) if k.exists(path) else []
dump = {"components": {}, "layouts": {}, "pipelines": {}}
for kind in children("/zuul/components"):
    dump["components"][kind] = [
        json.loads(k.get(f"/zuul/components/{kind}/{n}")[0])
        for n in children(f"/zuul/components/{kind}")
    ]
for tenant in children("/zuul/layout"):
    data = k.get(f"/zuul/layout/{tenant}")[0]
    if data:
        dump["layouts"][tenant] = json.loads(data)
        dump["pipelines"][tenant] = children(f"/zuul/tenant/{tenant}/pipeline")
zk.disconnect()
print(json.dumps(dump))
"""


def zookeeper(host):
    out = host.check_output(f"{COMPOSE} exec -T scheduler python3 -c {shlex.quote(ZK_DUMP)}")
    return json.loads(out.splitlines()[-1])


def wait_for(what, predicate, timeout=120):
    """Poll predicate() until it returns something true; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            assert value, f"timed out after {timeout} s waiting for {what}"
            return value
        time.sleep(2)


def container(host):
    """(id, start time) of the scheduler container."""
    cid = host.check_output(f"{COMPOSE} ps -q scheduler")
    return cid, host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' {cid}")


def converge(host, extra_vars=None):
    result = converge_instance(SCENARIO_DIR, host.backend.get_hostname(), extra_vars or {})
    return result.returncode, result.stdout + result.stderr


def install_tenants(host, path):
    """tenant-config.yml (zuul_tenant_config) with another main.yaml, as its playbook runs."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")),
         "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(ZUUL_CONFIG_SCENARIO / "tenant-config.yml"),
         "--limit", host.backend.get_hostname(),
         "-e", json.dumps({"zuul_tenant_config_src": str(path)})],
        capture_output=True, text=True, timeout=600, check=False, cwd=SCENARIO_DIR,
        env=dict(os.environ, ANSIBLE_ROLES_PATH=str(SCENARIO_DIR.parents[2]), ANSIBLE_NOCOLOR="1"),
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def tenant_loaded(host, name):
    """The ZooKeeper dump once the tenant has a layout, else None."""
    zk = zookeeper(host)
    return zk if name in zk["layouts"] else None


def running(components, kind):
    return [c for c in components.get(kind, []) if c["state"] == "running"]


@pytest.fixture
def original(host):
    """Converge with the scenario's own values after the test."""
    yield
    code, output = converge(host)
    assert code == 0, output[-3000:]


def test_scheduler_container_is_running_and_healthy(host):
    cid, _ = container(host)
    state = host.check_output(
        f"docker inspect -f '{{{{.State.Status}}}} {{{{.State.Health.Status}}}}' {cid}"
    )
    assert state == "running healthy"


def test_scheduler_logs_are_in_compose_logs(host):
    logs = host.check_output("cd /etc/zuul-scheduler && docker compose logs --no-color scheduler")
    assert "Starting scheduler" in logs
    assert "Config priming complete" in logs


def test_components_registry_lists_the_scheduler_as_running(host):
    schedulers = running(zookeeper(host)["components"], "scheduler")
    assert len(schedulers) == 1, schedulers
    # network_mode host: the component is named after the host itself.
    assert schedulers[0]["hostname"].split(".")[0] == host.backend.get_hostname()


def test_scheduler_loaded_the_tenant_with_the_pipeline_of_its_config_project(host):
    zk = zookeeper(host)
    assert set(zk["layouts"]) == {"example"}
    assert zk["layouts"]["example"]["hostname"].split(".")[0] == host.backend.get_hostname()
    # The pipeline exists only because zuul.yaml of opendev/project-config
    # was read from git (through the merger) and parsed.
    assert zk["pipelines"]["example"] == ["check"]


def test_a_converge_without_changes_leaves_the_scheduler_running(host):
    before = container(host)
    code, output = converge(host)
    assert code == 0, output[-3000:]
    assert re.search(r"changed=0\b", output), output[-3000:]
    assert container(host) == before


def test_a_changed_zuul_conf_restarts_the_scheduler(host, original):
    before = container(host)
    code, output = converge(host, {"zuul_config_merger_git_user_name": "Zuul (molecule)"})
    assert code == 0, output[-3000:]
    after = container(host)
    assert after[0] != before[0]
    # Converge waited for the health check: the new scheduler is running and
    # has loaded the tenant again.
    assert running(zookeeper(host)["components"], "scheduler")
    assert zookeeper(host)["pipelines"]["example"] == ["check"]


def test_a_changed_main_yaml_is_loaded_by_smart_reconfigure_without_a_restart(host, tmp_path):
    before = container(host)
    tenants = yaml.safe_load(TENANTS.read_text())
    second = {"tenant": {"name": "second", "source": tenants[0]["tenant"]["source"]}}
    changed = tmp_path / "main.yaml"
    changed.write_text(yaml.safe_dump(tenants + [second], sort_keys=False))
    try:
        code, output = install_tenants(host, changed)
        assert code == 0, output[-3000:]
        assert "RUNNING HANDLER [zuul_tenant_config : Reconfigure the Zuul scheduler]" in output
        zk = wait_for("tenant second", lambda: tenant_loaded(host, "second"))
        assert zk["pipelines"]["second"] == ["check"]
        assert container(host) == before
    finally:
        code, output = install_tenants(host, TENANTS)
        assert code == 0, output[-3000:]
    # smart-reconfigure removes a deleted tenant as well.
    wait_for("tenant second to go", lambda: "second" not in zookeeper(host)["layouts"])
    assert container(host) == before


def test_missing_keystore_password_fails_loud_before_anything_changes(host, tmp_path):
    before = container(host)
    conf = host.file("/etc/zuul/zuul.conf").sha256sum
    empty = tmp_path / "no-secrets.yml"
    empty.write_text("{}\n")
    code, output = converge(host, {"private_vars_file": str(empty)})
    assert code != 0, output[-3000:]
    assert "missing required arguments: zuul_config_keystore_password" in output
    assert host.file("/etc/zuul/zuul.conf").sha256sum == conf
    assert container(host) == before


def test_the_role_refuses_to_run_without_zuul_conf(host):
    # As on a host where zuul_config never ran: the role looks for a file
    # that is not there and stops before compose is touched.
    before = container(host)
    code, output = converge(host, {"zuul_scheduler__conf": "/etc/zuul/absent.conf"})
    assert code != 0, output[-3000:]
    assert "/etc/zuul/absent.conf is missing" in output
    assert "Apply the zuul_config role" in output
    assert container(host) == before
