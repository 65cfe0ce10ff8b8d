"""Jobs, docker hosts and mirrors agree on each region's mirror name."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import yaml
from ansible.plugins.filter.core import regex_replace

from sctools import REPO_ROOT

GROUP_VARS = REPO_ROOT / "group_vars"
PRODUCTION = REPO_ROOT / "inventory" / "production" / "hosts.yaml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def render(template: str, **variables) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["regex_replace"] = regex_replace
    return env.from_string(template).render(**variables)


def production_mirrors() -> list[str]:
    return [h for h in load(PRODUCTION)["all"]["hosts"] if re.match(r"mirror\d+\.", h)]


def test_job_site_variable_names_the_mirror_of_the_nodes_region_and_cloud():
    inventory = load(PRODUCTION)["all"]
    template = load(GROUP_VARS / "zuul_executor.yaml")["zuul_executor_site_variables"][
        "zuul_site_mirror_fqdn"
    ]
    mirror_name = load(GROUP_VARS / "mirror.yaml")["site_mirror_fqdn"]
    domain = inventory["vars"]["site_domain"]
    assert production_mirrors()
    for host in production_mirrors():
        served = render(mirror_name, inventory_hostname=host)
        region, cloud = host.split(".")[1:3]
        # Ansible renders group_vars once on the executor, Zuul renders the
        # rest with the node's nodepool variables.
        for_jobs = render(
            render(template, site_domain=domain),
            nodepool={"region": region.upper(), "cloud": cloud},
        )
        assert for_jobs == served


def test_docker_hosts_pull_through_a_mirror_that_exists():
    inventory = load(PRODUCTION)["all"]
    docker_mirror = load(GROUP_VARS / "all.yaml")["site_mirror_fqdn"]
    mirror_name = load(GROUP_VARS / "mirror.yaml")["site_mirror_fqdn"]
    served = {render(mirror_name, inventory_hostname=h) for h in production_mirrors()}
    used = render(
        docker_mirror,
        site_region=inventory["children"]["docker"]["vars"]["site_region"],
        site_domain=inventory["vars"]["site_domain"],
    )
    assert used in served
