"""Behaviour of the zuul_web role on a Debian 13 docker host.

prepare.yml made the instance a docker host with our images in its
registry, ran pebble (Let's Encrypt) and a one-node ZooKeeper, zuul.conf
and a scheduler that loaded the tenant of files/main.yaml; the site's
names resolve to 127.0.0.1 on the instance. converge.yml runs the role for
zuul01.zuul-web.test and zuul.zuul-web.test with pebble as the ACME server.
molecule ran converge twice (converge, idempotence) before these tests.

Tests that change something converge again for their own instance and put
the original back afterwards.
"""

import json
import os
import shlex
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml

from sctools.molecule_all import converge_instance

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

SCENARIO_DIR = Path(__file__).resolve().parents[1]
NAMES = ["zuul01.zuul-web.test", "zuul.zuul-web.test"]
TENANT_FILE = SCENARIO_DIR / "files" / "main.yaml"
TENANTS = [t["tenant"]["name"] for t in yaml.safe_load(TENANT_FILE.read_text())]
COMPOSE = "docker compose --project-directory /etc/zuul-web"
ROOT = "/tmp/pebble-root.pem"
CHECK = "/usr/local/sbin/zuul-web-apache-configtest"
HTTPS_SITE = "/etc/apache2/sites-available/zuul-web-https.conf"


@pytest.fixture(scope="module")
def pebble_root(host):
    """The root pebble signs certificates with (new at each pebble start)."""
    host.run_test(
        f"curl -sSf --cacert /etc/pebble/tls/ca.pem https://localhost:15000/roots/0 -o {ROOT}"
    )
    return ROOT


def curl(host, *args):
    return host.run("curl -sS --max-time 20 " + " ".join(shlex.quote(a) for a in args))


def container_id(host):
    return host.check_output(f"{COMPOSE} ps -q web")


def converge(host, **extra_vars):
    result = converge_instance(SCENARIO_DIR, host.backend.get_hostname(), extra_vars)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_api_lists_the_tenants_over_https_that_verifies(host, pebble_root, name):
    result = curl(host, "-f", "--cacert", pebble_root, f"https://{name}/api/tenants")
    assert result.rc == 0, result.stderr
    assert sorted(t["name"] for t in json.loads(result.stdout)) == sorted(TENANTS)


def test_web_ui_is_served_over_https(host, pebble_root):
    result = curl(host, "-f", "--cacert", pebble_root, f"https://{NAMES[0]}/")
    assert result.rc == 0, result.stderr
    assert "<html" in result.stdout.lower()


def test_http_redirects_to_the_same_url_over_https(host):
    result = curl(
        host, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
        f"http://{NAMES[1]}/t/molecule/status?x=1",
    )  # fmt: skip
    assert result.stdout == f"301 https://{NAMES[1]}/t/molecule/status?x=1"


def test_acme_challenges_are_served_over_http(host):
    host.run_test(
        "echo token-body > /var/lib/acme-challenge/.well-known/acme-challenge/molecule-probe"
    )
    result = curl(host, "-f", f"http://{NAMES[0]}/.well-known/acme-challenge/molecule-probe")
    host.run("rm -f /var/lib/acme-challenge/.well-known/acme-challenge/molecule-probe")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "token-body"


def test_zuul_web_listens_on_loopback_only(host):
    assert curl(host, "-f", "http://127.0.0.1:9000/api/tenants").rc == 0
    addresses = [a for a in host.interface("eth0").addresses if not a.startswith("fe80:")]
    assert addresses
    for address in addresses:
        url_host = f"[{address}]" if ":" in address else address
        result = curl(host, "--connect-timeout", "5", f"http://{url_host}:9000/api/tenants")
        assert result.rc == 7, f"{address}:9000 answered: {result.stdout}"  # 7: refused


def test_console_stream_websocket_is_proxied_to_zuul_web(host, pebble_root):
    # A websocket handshake: zuul-web (not Apache) switches protocols; the
    # stream then waits for a build uuid, so curl gives up after 5 s.
    result = curl(
        host, "-i", "--http1.1", "--max-time", "5", "--cacert", pebble_root,
        "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
        "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        f"https://{NAMES[0]}/api/tenant/{TENANTS[0]}/console-stream",
    )  # fmt: skip
    status = result.stdout.splitlines()[0] if result.stdout else result.stderr
    assert status.startswith("HTTP/1.1 101"), result.stdout[:500]
    assert "upgrade: websocket" in result.stdout.lower()


def test_a_run_without_changes_leaves_zuul_web_running(host):
    before = container_id(host)
    returncode, output = converge(host)
    assert returncode == 0, output[-3000:]
    assert "changed=0" in output
    assert container_id(host) == before


@pytest.fixture
def zuul_conf_backup(host):
    host.run_test("cp -p /etc/zuul/zuul.conf /root/zuul.conf.molecule")
    yield
    host.run_test("cp -p /root/zuul.conf.molecule /etc/zuul/zuul.conf")
    returncode, output = converge(host)
    assert returncode == 0, output[-3000:]


@pytest.mark.usefixtures("zuul_conf_backup")
def test_changed_zuul_conf_restarts_zuul_web(host, pebble_root):
    before = container_id(host)
    # As if zuul_config had written another zuul.conf.
    host.run_test("echo '# changed by a molecule test' >> /etc/zuul/zuul.conf")
    returncode, output = converge(host)
    assert returncode == 0, output[-3000:]
    assert container_id(host) != before
    result = curl(host, "-f", "--cacert", pebble_root, f"https://{NAMES[0]}/api/tenants")
    assert result.rc == 0, result.stderr


def test_broken_apache_site_is_refused_by_the_check(host):
    host.run_test(f"sed 's/SSLEngine on/SSLEngine maybe/' {HTTPS_SITE} > /root/broken-site.conf")
    result = host.run(f"{CHECK} /root/broken-site.conf {HTTPS_SITE}")
    assert result.rc == 1
    assert "Syntax error on line" in result.stderr
    assert "zuul-web-https.conf" in result.stderr
    # the live configuration is untouched and still valid
    assert host.run("apache2ctl configtest").rc == 0
