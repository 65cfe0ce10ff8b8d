"""Etherpad behind Apache, on MariaDB, as a user and an attacker see it.

prepare.yml and converge.yml: MariaDB with database and user etherpad,
Etherpad from our image on 127.0.0.1:9001, Apache serving
pad01.etherpad.test and etherpad.etherpad.test (they resolve to 127.0.0.1
on the instance) with a certificate from pebble.
"""

import json
import subprocess
import urllib.parse
import uuid

import pytest
from scenario import (
    converge,
    converge_result,
    curl,
    instance_names,
    original_values_put_back,
    wait_for,
)

testinfra_hosts = instance_names()

NAMES = ["pad01.etherpad.test", "etherpad.etherpad.test"]
API_KEY = "fake-api-key-0123456789abcdef"
COMPOSE = "docker compose --project-directory /etc/etherpad"

original = original_values_put_back()


def api(host, pebble_root, method, **params):
    """Etherpad's HTTP API over HTTPS (certificate verified): its data, or the failure."""
    query = urllib.parse.urlencode({"apikey": API_KEY, **params})
    result = curl(
        host, "-f", "--cacert", pebble_root, f"https://{NAMES[0]}/api/1.2.15/{method}?{query}"
    )
    assert result.rc == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["code"] == 0, answer
    return answer["data"]


@pytest.fixture(scope="module")
def instance_ip(host):
    """The instance's address on its network, as another machine reaches it."""
    name = host.backend.get_hostname()
    template = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    out = subprocess.run(
        ["docker", "inspect", "-f", template, name], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[0]


def remote_status(instance_ip, path, method="GET"):
    """The HTTPS status the controller (another machine) gets for a path."""
    result = subprocess.run(
        ["curl", "-sS", "-k", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code}",
         "-X", method, "--resolve", f"{NAMES[0]}:443:{instance_ip}", f"https://{NAMES[0]}{path}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stdout


def test_a_pad_written_through_the_api_reads_back_over_https(host, pebble_root):
    pad = f"test-{uuid.uuid4().hex[:12]}"
    api(host, pebble_root, "createPad", padID=pad, text="first\n")
    api(host, pebble_root, "setText", padID=pad, text="second version\n")
    assert api(host, pebble_root, "getText", padID=pad)["text"] == "second version\n"
    assert api(host, pebble_root, "getRevisionsCount", padID=pad)["revisions"] == 1


def test_pads_live_in_mariadb(host, pebble_root):
    pad = f"test-{uuid.uuid4().hex[:12]}"
    api(host, pebble_root, "createPad", padID=pad, text="stored\n")
    rows = host.check_output(
        "mariadb -N -e %s etherpad",
        f"SELECT COUNT(*) FROM store WHERE `key` = 'pad:{pad}'",
    )
    assert rows.strip() == "1"


def test_the_pad_page_is_served_under_every_name(host, pebble_root):
    for name in NAMES:
        result = curl(host, "-f", "--cacert", pebble_root, f"https://{name}/p/welcome")
        assert result.rc == 0, result.stderr
        assert "<html" in result.stdout.lower()


def test_the_pads_live_connection_upgrades_to_a_websocket_through_apache(host, pebble_root):
    # socket.io's handshake as a browser's pad makes it, through Apache.
    request = (
        "GET /socket.io/?EIO=3&transport=websocket HTTP/1.1\r\n"
        f"Host: {NAMES[0]}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    probe = "\n".join(
        [
            "import socket, ssl",
            f"ctx = ssl.create_default_context(cafile={pebble_root!r})",
            "raw = socket.create_connection(('127.0.0.1', 443), 30)",
            f"s = ctx.wrap_socket(raw, server_hostname={NAMES[0]!r})",
            f"s.sendall({request.encode()!r})",
            "print(s.recv(4096).split(b'\\r\\n')[0].decode())",
        ]
    )
    status = host.check_output("python3 -c %s", probe)
    assert status.startswith("HTTP/1.1 101"), status


def test_http_redirects_to_the_same_url_over_https(host):
    result = curl(
        host, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", f"http://{NAMES[1]}/p/x?y=1"
    )
    assert result.stdout == f"301 https://{NAMES[1]}/p/x?y=1"


@pytest.mark.parametrize(
    "path",
    [
        "/p/victim/import",
        "/P/victim/IMPORT",
        "/p/victim/import/",
        "/p/victim/%69mport",
        "/admin",
        "/ADMIN/plugins",
        "/stats",
    ],
)
def test_imports_admin_and_stats_are_forbidden_from_another_machine(instance_ip, path):
    assert remote_status(instance_ip, path, "POST" if "mport" in path else "GET") == "403"


def test_the_host_itself_may_import(host, pebble_root):
    pad = f"test-{uuid.uuid4().hex[:12]}"
    api(host, pebble_root, "createPad", padID=pad, text="before import\n")
    result = curl(
        host, "--cacert", pebble_root, "-o", "/dev/null", "-w", "%{http_code}",
        "-F", "file=@/etc/hostname;filename=import.txt;type=text/plain",
        f"https://{NAMES[0]}/p/{pad}/import",
    )  # fmt: skip
    assert result.stdout not in ("403", "000"), result.stderr


def test_no_admin_user_is_defined(host):
    settings = json.loads(host.file("/etc/etherpad/settings.json").content_string)
    assert "users" not in settings


@pytest.mark.parametrize("port", [9001, 3306])
def test_etherpad_and_mariadb_are_closed_to_other_machines(instance_ip, port):
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "10", f"http://{instance_ip}:{port}/"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 7, result.stderr  # 7: connection refused


@pytest.mark.parametrize("name", ["settings.json", "APIKEY.txt", "SESSIONKEY.txt"])
def test_secrets_are_readable_by_root_and_the_container_only(host, name):
    found = host.file(f"/etc/etherpad/{name}")
    assert (found.uid, found.gid, found.mode) == (0, 10002, 0o640)


def test_the_api_key_is_not_in_the_container_definition(host):
    definition = host.check_output(f"{COMPOSE} config") + host.check_output(
        "docker inspect etherpad-etherpad-1"
    )
    assert API_KEY not in definition
    assert "fake-db-password-1" not in definition


def test_a_wrong_database_password_fails_the_play_naming_the_database(host, original):
    wrong = {
        "etherpad_db_password": "wrong-password-1",
        "etherpad_test_db_password": "fake-db-password-1",  # MariaDB keeps the right one
        "etherpad_restart_attempts": 4,
        "etherpad_wait_timeout": 240,
    }
    rc, output = converge_result(host, wrong)
    assert rc != 0
    assert "cannot use its database 'etherpad' on 127.0.0.1:3306 as user 'etherpad'" in output
    # Bounded restarts, then exited: visible, not a loop that hides it.
    inspect = "docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' etherpad-etherpad-1"
    wait_for("the container to stay exited", lambda: host.check_output(inspect) == "exited 1")


def test_the_session_key_is_kept_across_converges(host):
    before = host.file("/etc/etherpad/SESSIONKEY.txt").sha256sum
    converge(host)
    assert host.file("/etc/etherpad/SESSIONKEY.txt").sha256sum == before
