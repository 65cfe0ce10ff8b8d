"""The region mirror on the local fleet, end to end, over verified TLS.

Upstreams are the stand-ins on standins01 (tests/standins/fleet.yaml):
a docker-registry behind a front that redirects blobs to a "CDN", as Docker
Hub does, and a static index as PyPI. Every fleet
host trusts only pebble's roots besides the system CAs, so a transfer that
succeeds proves the mirror's certificate verified. Docker hosts of regiona
pull Docker-Hub-style names; with no Docker Hub reachable, the mirror is
the only way those pulls can succeed. The cache is proven by pulling again
on another docker host with the registry, its front and the CDN stopped.
"""

from __future__ import annotations

import json
import uuid

import pytest
import yaml
from fleet_helpers import BRIDGE, HOSTS, on

from sctools import REPO_ROOT

STANDINS = HOSTS["standins01.fleet.test"]
MIRROR = HOSTS["mirror01.regiona.fleet.test"]
REGION_MIRROR = "mirror.regiona.fleet.test"
DOCKER_HOST = HOSTS["ze01.fleet.test"]
OTHER_DOCKER_HOST = HOSTS["zk01.fleet.test"]
UPSTREAM_UNITS = "docker-registry standin-registry-front standin-registry-cdn"
# The Docker Hub proxy's TLS port, from its one home.
DOCKERHUB_PORT = yaml.safe_load((REPO_ROOT / "group_vars" / "all.yaml").read_text())[
    "mirror_dockerhub_https_port"
]


def seed_upstream_image(size_mb: float = 4) -> tuple[str, str]:
    """A new image in the Docker Hub stand-in: (Docker Hub style name, manifest digest)."""
    tag = uuid.uuid4().hex[:12]
    result = on(
        STANDINS,
        "python3 /usr/local/bin/registry_seed.py seed --registry http://127.0.0.1:5000 "
        f"--name library/fleetprobe --tag {tag} --size-mb {size_mb} --seed {tag}",
    )
    assert result.returncode == 0, result.stderr
    return f"fleetprobe:{tag}", json.loads(result.stdout)["manifest_digest"]


def pulled_digest(host, image: str) -> str:
    """Pull image (name:tag or name@digest); the manifest digest docker recorded."""
    result = on(
        host,
        f"docker pull -q {image} && docker image inspect -f '{{{{json .RepoDigests}}}}' {image}",
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.splitlines()[-1])[0].split("@", 1)[1]


@pytest.mark.parametrize("name", [MIRROR.name, REGION_MIRROR])
def test_mirror_https_certificate_verifies_for_its_names(deployed, name):
    result = on(DOCKER_HOST, f"curl -sS -o /dev/null -w '%{{http_code}}' https://{name}/")
    assert result.returncode == 0, result.stderr  # curl exits 60 when verification fails
    assert result.stdout in ("200", "403", "404")


def test_docker_hosts_use_their_region_mirror(deployed):
    info = on(DOCKER_HOST, "docker info -f '{{json .RegistryConfig.Mirrors}}'")
    assert json.loads(info.stdout) == [f"https://{REGION_MIRROR}:{DOCKERHUB_PORT}/"]


def test_pull_through_mirror_then_from_its_cache_with_upstream_stopped(deployed):
    image, digest = seed_upstream_image()
    assert pulled_digest(DOCKER_HOST, image) == digest
    stop = on(STANDINS, f"systemctl stop {UPSTREAM_UNITS}")
    assert stop.returncode == 0, stop.stderr
    try:
        for port in (5000, 5001, 5002):
            upstream = on(MIRROR, f"curl -sS -m 5 http://standins01.fleet.test:{port}/")
            assert upstream.returncode != 0, f"the upstream's port {port} should be down"
        # Another docker host, with neither the image nor its layers. By
        # digest: a tag is resolved with a HEAD request, which a cache
        # cannot answer, so tags always need the upstream.
        assert pulled_digest(OTHER_DOCKER_HOST, f"{image.split(':')[0]}@{digest}") == digest
    finally:
        on(STANDINS, f"systemctl start {UPSTREAM_UNITS}")
        for host in (DOCKER_HOST, OTHER_DOCKER_HOST):
            on(host, f"docker image rm -f {image} {image.split(':')[0]}@{digest}")


def test_pip_installs_through_the_mirror(deployed):
    result = on(
        BRIDGE,
        "rm -rf /tmp/pip-probe && /opt/ansible-venv/bin/pip install --no-cache-dir "
        "--disable-pip-version-check --cert /etc/ssl/certs/ca-certificates.crt "
        f"--index-url https://{REGION_MIRROR}/pypi/simple/ --target /tmp/pip-probe "
        "scprobe",
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    log = on(MIRROR, "grep -h 'GET /pypifiles/' /var/log/apache2/*access*.log")
    assert "scprobe" in log.stdout.replace("-", "_"), "wheel did not come via /pypifiles/"
