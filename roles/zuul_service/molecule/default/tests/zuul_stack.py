"""What the tests of the Zuul stack scenario share (the fixtures are in conftest.py).

prepare.yml made the instance a docker host with our images in its
registry, wrote fake secrets in the ephemeral directory (the keystore
password, with a "%" in it, and the executor's SSH key pair), ran pebble
(Let's Encrypt), installed TLS (internal_ca), started ZooKeeper (TLS only),
created the config project /srv/git/opendev/project-config (a pipeline
`check`, a job) and installed main.yaml with the tenant `example`
(zuul_tenant_config). converge.yml applied zuul_config, zuul_service
(merger), zuul_executor, zuul_service (scheduler) and zuul_web, as
playbooks/service-zuul.yaml does; molecule's idempotence step converged
again.

Stack reaches the four services (their compose projects, containers and
ZooKeeper, read with Zuul's own client) and converges again with other
values.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from scenario import converge_result

SCENARIO_DIR = Path(__file__).resolve().parents[1]
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
# The services, in the order converge.yml starts them. Each is the compose
# project zuul-<name> (/etc/zuul-<name>) with the one service <name>.
SERVICES = ("merger", "executor", "scheduler", "web")
# A converge that restarts every service waits for each to be ready.
CONVERGE_TIMEOUT = 1800

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


def compose(service: str) -> str:
    """The docker compose command of a service's project."""
    return f"docker compose -f /etc/zuul-{service}/docker-compose.yaml"


def running(components: dict, kind: str) -> list[dict]:
    """The registered components of a kind that are running."""
    return [c for c in components.get(kind, []) if c["state"] == "running"]


class Stack:
    """The Zuul services on the test instance."""

    def __init__(self, host):
        self.host = host
        self.hostname = host.backend.get_hostname()

    def exec(self, service: str, command: str, user: str | None = None):
        """A shell command in a service's container (its image's user unless user)."""
        as_user = f"-u {user} " if user else ""
        return self.host.run(
            f"{compose(service)} exec -T {as_user}{service} sh -c {shlex.quote(command)}"
        )

    def container(self, service: str) -> tuple[str, str]:
        """(id, start time) of a service's container."""
        cid = self.host.check_output(f"{compose(service)} ps -q {service}")
        assert cid, f"no container for {service}"
        started = self.host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' {cid}")
        return cid, started

    def containers(self) -> dict[str, tuple[str, str]]:
        """(id, start time) of every service's container."""
        return {service: self.container(service) for service in SERVICES}

    def state(self, service: str) -> str:
        """'<status> <health>' of a service's container, e.g. 'running healthy'."""
        cid, _ = self.container(service)
        return self.host.check_output(
            f"docker inspect -f '{{{{.State.Status}}}} {{{{.State.Health.Status}}}}' {cid}"
        )

    def logs(self, service: str) -> str:
        return self.host.check_output(f"{compose(service)} logs --no-color {service}")

    def zookeeper(self, service: str = "scheduler") -> dict:
        """Components, layouts and pipelines in ZooKeeper, read from a service's container."""
        result = self.exec(service, f"python3 -c {shlex.quote(ZK_DUMP)}")
        assert result.rc == 0, result.stdout + result.stderr
        return json.loads(result.stdout.splitlines()[-1])

    def tenant_loaded(self, name: str) -> dict | None:
        """The ZooKeeper dump once the tenant has a layout, else None."""
        zk = self.zookeeper()
        return zk if name in zk["layouts"] else None

    def converge(
        self,
        extra_vars: dict | None = None,
        *,
        tags: tuple[str, ...] = (),
        env: dict | None = None,
        playbook: str = "converge.yml",
    ) -> tuple[int, str]:
        """A playbook of the scenario on this instance: exit code and the whole output."""
        return converge_result(
            self.hostname,
            extra_vars,
            timeout=CONVERGE_TIMEOUT,
            playbook=playbook,
            tags=tags,
            env=env,
        )
