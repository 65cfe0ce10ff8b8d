"""sctools.buildset_registry: a real docker-registry on its docker network."""

import json
import shutil
import ssl
import subprocess
import urllib.request

import pytest

from sctools import buildset_registry as br


def test_the_address_is_the_gateway_of_the_registry_s_own_network():
    assert br.gateway("172.30.43.0/24") == "172.30.43.1"


def test_config_serves_tls_from_the_state_directory(tmp_path):
    config = json.loads(br.registry_config(tmp_path, "172.30.43.1:5443"))
    assert config["http"] == {
        "addr": "172.30.43.1:5443",
        "tls": {"certificate": str(tmp_path / "cert.pem"), "key": str(tmp_path / "key.pem")},
    }
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "data")


def test_a_directory_without_a_registry_is_not_running(tmp_path):
    assert br.running(tmp_path) is None
    (tmp_path / "state.json").write_text(json.dumps({"pid": 1, "address": "x:1"}))
    assert br.running(tmp_path) is None  # pid 1 is no registry of this directory


def test_the_directory_comes_from_the_environment_else_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv(br.ENV_DIR, raising=False)
    assert br.default_directory() == br.STATE_ROOT / "default"
    monkeypatch.setenv(br.ENV_DIR, str(tmp_path))
    assert br.default_directory() == tmp_path


needs_docker = pytest.mark.skipif(
    shutil.which("docker-registry") is None
    or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0,
    reason="tools/prepare-host.sh installs docker-registry and starts dockerd",
)


@pytest.fixture
def state(tmp_path):
    """A state root of this test's own; whatever runs in it is stopped."""
    root = tmp_path / "registries"
    yield root
    for directory in root.iterdir() if root.is_dir() else []:
        if directory.is_dir():
            br.stop(directory)


@needs_docker
def test_ensure_starts_once_and_the_registry_answers_over_verified_tls(state):
    found, started = br.ensure(state / "one")
    assert started and found.address.startswith(br.gateway() + ":")
    again, started_again = br.ensure(state / "one")
    assert (again, started_again) == (found, False)
    context = ssl.create_default_context(cafile=str(found.ca_file))
    with urllib.request.urlopen(f"{found.url}/v2/", context=context, timeout=10) as resp:
        assert resp.status == 200


@needs_docker
def test_stop_ends_the_process_and_removes_its_data(state):
    found, _ = br.ensure(state / "one")
    assert br.stop(state / "one")
    assert not br.alive(found.pid) or br.registry_pid(state / "one") is None
    assert not (state / "one").exists()
    assert not br.stop(state / "one")  # stopping twice is harmless


@needs_docker
def test_a_registry_whose_owner_died_is_reaped_when_another_starts(state):
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan, _ = br.ensure(state / "orphan", owner=dead.pid)
    br.ensure(state / "next")
    assert not (state / "orphan").exists()
    assert br.registry_pid(state / "next") is not None
    assert not br.alive(orphan.pid)


def test_listeners_on_the_address_are_found_in_the_tcp_table(tmp_path):
    table = tmp_path / "tcp"
    header = "  sl  local_address rem_address   st tx_queue rx_queue ...\n"
    listen = "   0: 012B1EAC:D431 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n"
    connected = "   1: 012B1EAC:D431 0201A8C0:0016 01 00000000:00000000 00:00000000 00000000\n"
    table.write_text(header + listen)
    assert br.listening_on("172.30.43.1", table)
    assert not br.listening_on("172.30.43.2", table)
    table.write_text(header + connected)
    assert not br.listening_on("172.30.43.1", table)
