"""Behaviour of zuul_service for the scheduler: a real scheduler on a real ZooKeeper.

See zuul_stack.py for what prepare.yml and converge.yml did. The scheduler
loads configuration through the merger. What it did is read from ZooKeeper
with Zuul's own client, run in the scheduler container: the components
registry and the tenants' layout states.
"""

import re

import pytest
import yaml
from scenario import instance_names, wait_for
from zuul_stack import SCENARIO_DIR, running

testinfra_hosts = instance_names()

TENANTS = SCENARIO_DIR / "files" / "tenants.yaml"


def test_scheduler_container_is_running_and_healthy(stack):
    assert stack.state("scheduler") == "running healthy"


def test_scheduler_logs_are_in_compose_logs(host):
    logs = host.check_output("cd /etc/zuul-scheduler && docker compose logs --no-color scheduler")
    assert "Starting scheduler" in logs
    assert "Config priming complete" in logs


def test_components_registry_lists_the_scheduler_as_running(host, stack):
    schedulers = running(stack.zookeeper()["components"], "scheduler")
    assert len(schedulers) == 1, schedulers
    # network_mode host: the component is named after the host itself.
    assert schedulers[0]["hostname"].split(".")[0] == host.backend.get_hostname()


def test_scheduler_loaded_the_tenant_with_the_pipeline_of_its_config_project(host, stack):
    zk = stack.zookeeper()
    assert set(zk["layouts"]) == {"example"}
    assert zk["layouts"]["example"]["hostname"].split(".")[0] == host.backend.get_hostname()
    # The pipeline exists only because zuul.yaml of opendev/project-config
    # was read from git (through the merger) and parsed.
    assert zk["pipelines"]["example"] == ["check"]


def install_tenants(stack, path):
    """tenant-config.yml (zuul_tenant_config) with another main.yaml, as its playbook runs."""
    return stack.converge({"zuul_tenant_config_src": str(path)}, playbook="tenant-config.yml")


def test_a_changed_main_yaml_is_loaded_by_smart_reconfigure_and_restarts_nothing(stack, tmp_path):
    before = stack.containers()
    tenants = yaml.safe_load(TENANTS.read_text())
    second = {"tenant": {"name": "second", "source": tenants[0]["tenant"]["source"]}}
    changed = tmp_path / "main.yaml"
    changed.write_text(yaml.safe_dump(tenants + [second], sort_keys=False))
    try:
        code, output = install_tenants(stack, changed)
        assert code == 0, output[-3000:]
        assert "RUNNING HANDLER [zuul_tenant_config : Reconfigure the Zuul scheduler]" in output
        zk = wait_for("tenant second", lambda: stack.tenant_loaded("second"))
        assert zk["pipelines"]["second"] == ["check"]
        # Neither the scheduler nor any other service restarted.
        assert stack.containers() == before
        # main.yaml is not among the files the services watch: a converge
        # of the stack now has nothing to change and restarts nothing. (The
        # stack's converge without changes, with every service checked.)
        code, output = stack.converge()
        assert code == 0, output[-3000:]
        assert re.search(r"changed=0\b", output), output[-3000:]
        assert stack.containers() == before
    finally:
        code, output = install_tenants(stack, TENANTS)
        assert code == 0, output[-3000:]
    # smart-reconfigure removes a deleted tenant as well.
    wait_for("tenant second to go", lambda: "second" not in stack.zookeeper()["layouts"])
    assert stack.containers() == before


@pytest.mark.parametrize("component", ["scheduler", "merger"])
def test_the_component_names_its_compose_project_and_health_port(host, component):
    # One role, two components: each its own project, service and the
    # health check of its own zuul.conf section.
    compose = yaml.safe_load(host.file(f"/etc/zuul-{component}/docker-compose.yaml").content_string)
    assert list(compose["services"]) == [component]
    service = compose["services"][component]
    assert service["image"].rsplit("/", 1)[1].startswith(f"zuul-{component}:")
    assert service["healthcheck"]["test"][-1] == component
    assert service["network_mode"] == "host"
    assert "/srv/git:/srv/git:ro" in service["volumes"]
