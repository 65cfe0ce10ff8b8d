"""Behaviour of the zuul_web role in the Zuul stack.

See zuul_stack.py for what prepare.yml and converge.yml did: zuul-web runs
for zuul01.zuul.test and zuul.zuul.test (they resolve to 127.0.0.1 on the
instance) with pebble as the ACME server, and lists the tenant the
scheduler loaded from files/tenants.yaml.
"""

import json

import pytest
import yaml
from scenario import SECURITY_HEADERS, curl, headers_of, instance_names, wait_for
from zuul_stack import SCENARIO_DIR

testinfra_hosts = instance_names()

NAMES = ["zuul01.zuul.test", "zuul.zuul.test"]
TENANT_FILE = SCENARIO_DIR / "files" / "tenants.yaml"
TENANTS = [t["tenant"]["name"] for t in yaml.safe_load(TENANT_FILE.read_text())]
CHECK = "/usr/local/sbin/apache-configtest"
HTTPS_SITE = "/etc/apache2/sites-available/zuul-web-https.conf"


def listed_tenants(host, pebble_root, name):
    """The tenant names https://<name>/api/tenants lists (verified), or None."""
    result = curl(host, "-f", "--cacert", pebble_root, f"https://{name}/api/tenants")
    assert result.rc == 0, result.stderr
    return sorted(t["name"] for t in json.loads(result.stdout))


@pytest.mark.parametrize("name", NAMES)
def test_api_lists_the_tenants_over_https_that_verifies(host, pebble_root, name):
    # zuul-web reads the layouts the scheduler wrote to ZooKeeper; a
    # restarted zuul-web (another test) may take a moment to read them.
    wait_for(
        f"{TENANTS} at https://{name}/api/tenants",
        lambda: listed_tenants(host, pebble_root, name) == sorted(TENANTS),
    )


def test_web_ui_is_served_over_https(host, pebble_root):
    result = curl(host, "-f", "--cacert", pebble_root, f"https://{NAMES[0]}/")
    assert result.rc == 0, result.stderr
    assert "<html" in result.stdout.lower()


def test_http_redirects_to_the_same_url_over_https(host):
    result = curl(
        host, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
        f"http://{NAMES[1]}/t/example/status?x=1",
    )  # fmt: skip
    assert result.stdout == f"301 https://{NAMES[1]}/t/example/status?x=1"


def test_http_redirect_ignores_a_forged_host_header(host):
    # A redirect to whatever Host says would send users to another site.
    result = curl(
        host, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
        "-H", "Host: evil.example", "http://127.0.0.1/t/example/status?x=1",
    )  # fmt: skip
    assert result.stdout == f"301 https://{NAMES[0]}/t/example/status?x=1"


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


def test_broken_apache_site_is_refused_by_the_check(host):
    host.run_test(f"sed 's/SSLEngine on/SSLEngine maybe/' {HTTPS_SITE} > /root/broken-site.conf")
    result = host.run(f"{CHECK} /root/broken-site.conf {HTTPS_SITE}")
    assert result.rc == 1
    assert "Syntax error on line" in result.stderr
    assert "zuul-web-https.conf" in result.stderr
    # the live configuration is untouched and still valid
    assert host.run("apache2ctl configtest").rc == 0


# The apache role's security headers, on zuul-web's HTTPS site: the web UI
# (HTML) and the API (JSON), both from zuul-web.
PAGES = ["/", "/api/tenants"]


def response_headers(host, pebble_root, path, *args) -> list[tuple[str, str]]:
    """The (lower-case name, value) headers of a GET over HTTPS, body dropped."""
    result = curl(
        host, "-f", "-o", "/dev/null", "-D", "-", "--cacert", pebble_root, *args,
        f"https://{NAMES[0]}{path}",
    )  # fmt: skip
    return headers_of(result)


@pytest.mark.parametrize("path", PAGES)
def test_https_responses_carry_hsts_and_the_security_headers_once(host, pebble_root, path):
    headers = response_headers(host, pebble_root, path)
    for name, value in SECURITY_HEADERS.items():
        assert [v for n, v in headers if n == name] == [value], headers


@pytest.mark.parametrize("path", PAGES)
def test_nothing_is_compressed_over_https(host, pebble_root, path):
    gzip = ["-H", "Accept-Encoding: gzip, deflate, br"]
    headers = dict(response_headers(host, pebble_root, path, *gzip))
    assert "content-encoding" not in headers, headers


@pytest.mark.parametrize("path", PAGES)
def test_server_header_is_just_apache(host, pebble_root, path):
    # zuul-web (CherryPy) sends a Server header of its own.
    headers = response_headers(host, pebble_root, path)
    assert [v for n, v in headers if n == "server"] == ["Apache"], headers


def test_trace_is_refused(host, pebble_root):
    result = curl(
        host, "-o", "/dev/null", "-w", "%{http_code}", "--cacert", pebble_root,
        "-X", "TRACE", f"https://{NAMES[0]}/",
    )  # fmt: skip
    assert result.stdout == "405"


def test_apache_runs_in_its_systemd_sandbox(host):
    show = host.check_output(
        "systemctl show -p ActiveState -p ProtectSystem -p NoNewPrivileges apache2.service"
    )
    assert sorted(show.splitlines()) == [
        "ActiveState=active",
        "NoNewPrivileges=yes",
        "ProtectSystem=full",
    ]
    out = host.check_output("systemd-analyze security --no-pager apache2.service | tail -n 1")
    assert float(out.split(":")[1].split()[0]) < 3.0, out
