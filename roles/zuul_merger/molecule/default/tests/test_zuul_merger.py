"""Behaviour of the zuul_merger role: a real merger on a real ZooKeeper.

prepare.yml made the instance a docker host with our images, installed TLS
(internal_ca), started ZooKeeper (TLS only), created the config project
/srv/git/opendev/project-config and installed main.yaml with the tenant
`example` (zuul_tenant_config). converge.yml applied zuul_config and
zuul_merger; molecule's idempotence step converged again.

That the merger works is shown the way Zuul uses it: `zuul-scheduler
--validate-tenants` (run in the merger's container, which has the whole
Zuul) loads the tenant by sending cat jobs to mergers through ZooKeeper and
waits for their answers; with no merger it would wait forever.
"""

import json
import os
import re
import shlex
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner

from sctools.molecule_all import converge_instance

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

SCENARIO_DIR = Path(__file__).resolve().parents[1]
COMPOSE = "docker compose -f /etc/zuul-merger/docker-compose.yaml"
GIT_DIR = "/var/lib/zuul/merger-git"

# Zuul's ZooKeeper client, configured from zuul.conf as the services do.
ZK_COMPONENTS = """
import configparser, json
from zuul.zk import ZooKeeperClient
config = configparser.ConfigParser()
config.read("/etc/zuul/zuul.conf")
zk = ZooKeeperClient.fromConfig(config)
zk.connect()
k = zk.client
root = "/zuul/components"
print(json.dumps({
    kind: [json.loads(k.get(f"{root}/{kind}/{n}")[0]) for n in k.get_children(f"{root}/{kind}")]
    for kind in (k.get_children(root) if k.exists(root) else [])
}))
zk.disconnect()
"""


def components(host):
    out = host.check_output(f"{COMPOSE} exec -T merger python3 -c {shlex.quote(ZK_COMPONENTS)}")
    return json.loads(out.splitlines()[-1])


def container(host):
    """(id, start time) of the merger container."""
    cid = host.check_output(f"{COMPOSE} ps -q merger")
    return cid, host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' {cid}")


def converge(host, extra_vars=None):
    result = converge_instance(SCENARIO_DIR, host.backend.get_hostname(), extra_vars or {})
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def original(host):
    """Converge with the scenario's own values after the test."""
    yield
    code, output = converge(host)
    assert code == 0, output[-3000:]


def test_merger_container_is_running_and_healthy(host):
    cid, _ = container(host)
    state = host.check_output(
        f"docker inspect -f '{{{{.State.Status}}}} {{{{.State.Health.Status}}}}' {cid}"
    )
    assert state == "running healthy"


def test_merger_logs_are_in_compose_logs(host):
    logs = host.check_output("cd /etc/zuul-merger && docker compose logs --no-color merger")
    assert "Registering component in ZooKeeper /zuul/components/merger/" in logs, logs[-2000:]
    assert re.search(r"Component merger \S+ updated: .*'state': 'running'", logs), logs[-2000:]


def test_components_registry_lists_the_merger_as_running(host):
    mergers = [m for m in components(host).get("merger", []) if m["state"] == "running"]
    assert len(mergers) == 1, mergers
    assert mergers[0]["hostname"].split(".")[0] == host.backend.get_hostname()


def test_merger_answers_the_cat_jobs_that_load_a_tenant(host):
    result = host.run(
        f"{COMPOSE} exec -T merger timeout 300 zuul-scheduler -f --validate-tenants example"
    )
    output = result.stdout + result.stderr
    assert result.rc == 0, output[-3000:]
    assert "Loading configuration from opendev/project-config/zuul.yaml@master" in output
    logs = host.check_output("cd /etc/zuul-merger && docker compose logs --no-color merger")
    assert re.search(r"Merge <MergeRequest \S+ job_type=cat, .*> complete", logs), logs[-2000:]
    # The merger cloned the project into its git directory (zuul's), at the
    # commit of the upstream repository.
    clone = host.check_output(f"find {GIT_DIR} -mindepth 1 -type d -name '*project-config'")
    assert host.file(clone).user == "zuul"
    upstream = host.check_output(
        "runuser -u zuul -- git -C /srv/git/opendev/project-config rev-parse master"
    )
    assert (
        host.check_output(f"runuser -u zuul -- git -C '{clone}' rev-parse origin/master")
        == upstream
    )


def test_a_converge_without_changes_leaves_the_merger_running(host):
    before = container(host)
    code, output = converge(host)
    assert code == 0, output[-3000:]
    assert re.search(r"changed=0\b", output), output[-3000:]
    assert container(host) == before


def test_a_changed_zuul_conf_restarts_the_merger_with_it(host, original):
    before = container(host)
    code, output = converge(host, {"zuul_config_merger_git_user_name": "Zuul (molecule)"})
    assert code == 0, output[-3000:]
    assert container(host)[0] != before[0]
    user = host.check_output(
        f"{COMPOSE} exec -T merger python3 -c "
        + shlex.quote(
            "import configparser; c = configparser.ConfigParser();"
            " c.read('/etc/zuul/zuul.conf'); print(c.get('merger', 'git_user_name'))"
        )
    )
    assert user == "Zuul (molecule)"
    assert [m for m in components(host)["merger"] if m["state"] == "running"]


def test_the_role_refuses_to_run_without_zuul_conf(host):
    # As on a host where zuul_config never ran: the role looks for a file
    # that is not there and stops before compose is touched.
    before = container(host)
    code, output = converge(host, {"zuul_merger__conf": "/etc/zuul/absent.conf"})
    assert code != 0, output[-3000:]
    assert "/etc/zuul/absent.conf is missing" in output
    assert "Apply the zuul_config role" in output
    assert container(host) == before
