"""Behaviour of compose_service: the project runs, and restarts only on change.

converge.yml runs busybox httpd (image <registry>/test/probe:1, from the
buildset registry of tests/molecule/docker_host.yml) serving /etc/probe/www/index.html, a watched
file. The tests converge again with other values and compare the
container's id: the same id means it was not recreated.
"""

import json
import re

import pytest
from scenario import converge, converge_result, instance_names, original_values_put_back

testinfra_hosts = instance_names()

COMPOSE = "docker compose --project-directory /etc/probe"


@pytest.fixture
def image(host) -> str:
    """The probe image, in the registry docker_host.yml recorded."""
    facts = json.loads(host.file("/etc/ansible/facts.d/docker_host.fact").content_string)
    return f"{facts['registry']}/test/probe:1"


def container_id(host) -> str:
    return host.check_output(f"{COMPOSE} ps -q web")


# Converge with the original page afterwards, whatever the test did.
original = original_values_put_back()


def test_service_answers(host):
    assert host.check_output("curl -sS http://127.0.0.1:8089/index.html") == "hello"


def test_compose_file_names_the_project_for_logs(host):
    assert host.run(f"{COMPOSE} logs web").rc == 0
    assert host.check_output(f"{COMPOSE} ps --format '{{{{.State}}}}' web") == "running"


def test_labels_of_the_definition_are_kept(host):
    labels = host.check_output(
        "docker inspect -f '{{index .Config.Labels \"org.example.kept\"}}' " + container_id(host)
    )
    assert labels == "yes"


def test_a_run_without_changes_leaves_the_container_running(host):
    before = container_id(host)
    output = converge(host)
    assert re.search(r"changed=0\b", output) and not re.search(r"changed=[1-9]", output)
    assert container_id(host) == before


def test_a_changed_watched_file_recreates_the_container(host, original):
    before = container_id(host)
    converge(host, {"probe_message": "changed"})
    assert container_id(host) != before
    assert host.check_output("curl -sS http://127.0.0.1:8089/index.html") == "changed"


def test_a_new_image_behind_the_same_tag_recreates_the_container(host, original, image):
    before = container_id(host)
    host.run_test(
        "set -e; d=$(mktemp -d); mkdir $d/bin; cp /bin/busybox $d/bin/; ln -s busybox $d/bin/sh;"
        f" tar -C $d -c . | docker import --change 'LABEL generation=2' - {image}-next;"
        f" rm -r $d; docker tag {image}-next {image}; docker push -q {image};"
        f" docker image rm {image}-next"
    )
    # Gone locally too: only the pull can bring the new image.
    host.run_test(f"docker rmi -f {image} || true")
    converge(host)
    assert container_id(host) != before
    generation = host.check_output(
        "docker inspect -f '{{index .Config.Labels \"generation\"}}' " + container_id(host)
    )
    assert generation == "2"


def test_a_service_without_image_fails_naming_it_and_changes_nothing(host):
    before = host.file("/etc/probe/docker-compose.yaml").content_string
    code, output = converge_result(
        host, {"compose_service_services": {"web": {"command": ["true"]}}}
    )
    assert code != 0
    assert "each with an image; without one: ['web']" in output
    assert host.file("/etc/probe/docker-compose.yaml").content_string == before
