"""The roles' defaults as production gets them.

Every molecule scenario and the local fleet override the outside world's
addresses (pebble for Let's Encrypt, stand-ins for Docker Hub and PyPI),
so no other test ever reads the production values: a wrong default would
reach production unnoticed. These are checked here, against the services'
published endpoints, and each default must be the one argument_specs
documents (the README tables and `ansible-doc`-style checks read that).
Site-wide values that have no role default (their one home is
group_vars/all.yaml) are checked there the same way.
"""

from __future__ import annotations

import pytest
import yaml

from sctools import REPO_ROOT

ROLES = sorted(p.parent.parent.name for p in REPO_ROOT.glob("roles/*/meta/argument_specs.yml"))

QUAY_CDNS = [{"path": f"cdn0{n}", "url": f"https://cdn0{n}.quay.io/"} for n in (1, 2, 3)]
DOCKERHUB_CDNS = [{"path": "cloudflare", "url": "https://production.cloudflare.docker.com/"}]
# (role, variable, production value, whose endpoint)
PRODUCTION = [
    ("acme_certificates", "acme_certificates_directory_url",
     "https://acme-v02.api.letsencrypt.org/directory", "Let's Encrypt's ACME v2 directory"),
    ("mirror", "mirror_pypi_upstream", "https://pypi.org/", "PyPI's simple index"),
    ("mirror", "mirror_pypi_files_upstream", "https://files.pythonhosted.org/", "PyPI's files"),
    ("mirror", "mirror_dockerhub_upstream", "https://registry-1.docker.io/", "Docker Hub's API"),
    ("mirror", "mirror_dockerhub_cdn_upstreams", DOCKERHUB_CDNS, "Docker Hub's blob CDN"),
    ("mirror", "mirror_quay_upstream", "https://quay.io/", "quay.io's registry API"),
    ("mirror", "mirror_quay_cdn_upstreams", QUAY_CDNS, "quay.io's blob CDNs"),
    ("sshd", "sshd_port", 22, "bridge and the infra roots ssh to 22"),
    ("firewall", "firewall_ssh_port", 22, "the port sshd listens on"),
]  # fmt: skip


def defaults(role: str) -> dict:
    path = REPO_ROOT / "roles" / role / "defaults" / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def spec_options(role: str) -> dict:
    spec = yaml.safe_load((REPO_ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"].get("options") or {}


# Site-wide values with their one home in group_vars/all.yaml (no role
# default): (variable, production value, whose endpoint). The registry
# mirror ports are what every job's docker configuration points at.
SITE_VALUES = [
    ("mirror_dockerhub_https_port", 4445, "the job nodes' Docker Hub mirror port"),
    ("mirror_quay_https_port", 4447, "the job nodes' quay.io mirror port"),
    ("zookeeper_secure_client_port", 2281, "Zuul's ZooKeeper TLS client port"),
]


@pytest.mark.parametrize(("role", "variable", "value", "endpoint"), PRODUCTION)
def test_production_default(role, variable, value, endpoint):
    assert defaults(role).get(variable) == value, f"{role}: {variable} is not {endpoint}"


@pytest.mark.parametrize(("variable", "value", "endpoint"), SITE_VALUES)
def test_site_value(variable, value, endpoint):
    site = yaml.safe_load((REPO_ROOT / "group_vars" / "all.yaml").read_text())
    assert site.get(variable) == value, f"group_vars/all.yaml: {variable} is not {endpoint}"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_the_documented_ones(role):
    options = spec_options(role)
    for variable, value in defaults(role).items():
        assert variable in options, f"roles/{role}/defaults/main.yml: {variable} is undocumented"
        option = options[variable]
        templated = isinstance(value, str) and "{{" in value
        # A required option's placeholder and a templated default have no
        # literal to compare (the spec describes them in words).
        if not (templated or option.get("required")):
            assert option.get("default") == value, (
                f"roles/{role}: {variable} defaults to {value!r}, argument_specs says "
                f"{option.get('default')!r}"
            )
