"""Behaviour of the zookeeper role: a standalone ZooKeeper, TLS only.

prepare.yml makes the instance a docker host with our zookeeper image in
its own registry and installs the host's certificate from the role
internal_ca (for the instance's name and address) in /etc/zookeeper/tls,
plus a client certificate from another CA in /root/zookeeper-test.
converge.yml runs the role as a one-member ensemble (myid 1).

Clients are ZooKeeper's own CLI (ZooKeeperMain over Netty TLS), run in the
service's container with `docker compose exec`, as an infra root would.
"""

import json
import re
import shlex
import uuid

import pytest
import yaml
from scenario import converge, converge_result, instance_names, original_values_put_back

from sctools import REPO_ROOT

testinfra_hosts = instance_names()

COMPOSE = "docker compose --project-directory /etc/zookeeper"
TLS = "/etc/zookeeper/tls"
ROGUE_KEYSTORE = "/root/zookeeper-test/rogue-keystore.pem"
# The TLS client port, from its one home (converge.yml reads it too).
SITE = yaml.safe_load((REPO_ROOT / "group_vars" / "all.yaml").read_text())
PORT = SITE["zookeeper_secure_client_port"]


def client(host, *command, keystore=f"{TLS}/keystore.pem", server=None):
    """ZooKeeperMain in the service's container: TLS, trusting our CA.

    keystore: the client certificate and key, a path in the container, or
    None for a client without a certificate. server defaults to the host's
    own name on the TLS port: the client checks the server's certificate
    for it.
    """
    server = server or f"{host.backend.get_hostname()}:{PORT}"
    props = {
        "zookeeper.client.secure": "true",
        "zookeeper.clientCnxnSocket": "org.apache.zookeeper.ClientCnxnSocketNetty",
        "zookeeper.ssl.trustStore.location": f"{TLS}/ca.pem",
        "zookeeper.ssl.trustStore.type": "PEM",
        "org.slf4j.simpleLogger.defaultLogLevel": "warn",
    }
    if keystore:
        props["zookeeper.ssl.keyStore.location"] = keystore
        props["zookeeper.ssl.keyStore.type"] = "PEM"
    java = 'exec java -Xmx64m -cp "$ZOOKEEPER_CLASSPATH" "$@"'  # the container's class path
    argv = [
        *f"timeout 120 {COMPOSE} exec -T zookeeper sh -c".split(),
        java,
        "zkcli",
        *(f"-D{key}={value}" for key, value in props.items()),
        "org.apache.zookeeper.ZooKeeperMain",
        "-server",
        server,
        *command,
    ]
    return host.run(shlex.join(argv))


def znode():
    return f"/molecule-{uuid.uuid4().hex[:12]}"


def python(host, code, *args):
    """A Python snippet on the instance (its stdout; a non-zero exit fails)."""
    return host.check_output("python3 -c " + shlex.quote(code) + " " + shlex.join(args))


def tcp(host, address, port, send=b""):
    """'refused' when nothing listens, else the first bytes answered to `send`."""
    code = (
        "import socket, sys\n"
        "try:\n"
        "    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n"
        "except ConnectionRefusedError:\n"
        "    print('refused'); sys.exit()\n"
        "s.settimeout(5); s.sendall(sys.argv[3].encode())\n"
        "try:\n"
        "    print(repr(s.recv(100)))\n"
        "except (TimeoutError, ConnectionError) as e:\n"
        "    print(type(e).__name__)\n"
    )
    return python(host, code, address, str(port), send.decode())


def tls_ruok(host, keystore, address=None):
    """ruok over TLS on the client port with this client certificate, checking the
    server's certificate for `address` (default: the host's name)."""
    code = (
        "import socket, ssl, sys\n"
        "name, keystore = sys.argv[1], sys.argv[2]\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[3])\n"
        "ctx.load_cert_chain(keystore)\n"
        "try:\n"
        "    raw = socket.create_connection((name, int(sys.argv[4])), timeout=10)\n"
        "    with ctx.wrap_socket(raw, server_hostname=name) as s:\n"
        "        s.sendall(b'ruok'); print(repr(s.recv(100)))\n"
        "except (ssl.SSLError, ConnectionError) as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    address = address or host.backend.get_hostname()
    return python(host, code, address, keystore, f"{TLS}/ca.pem", str(PORT))


def admin(host, command, address="127.0.0.1"):
    """An AdminServer command's JSON answer, or the error connecting."""
    code = (
        "import json, sys, urllib.request\n"
        "try:\n"
        "    url = f'http://{sys.argv[1]}:8080/commands/{sys.argv[2]}'\n"
        "    print(urllib.request.urlopen(url, timeout=5).read().decode())\n"
        "except OSError as e:\n"
        "    print(json.dumps({'connect_error': str(e)}))\n"
    )
    return json.loads(python(host, code, address, command))


@pytest.fixture(scope="module")
def addresses(host):
    """The instance's IPv4 and IPv6 address (public_v4, public_v6 in prepare.yml)."""
    facts = host.ansible("setup", "gather_subset=network")["ansible_facts"]
    return facts["ansible_default_ipv4"]["address"], facts["ansible_default_ipv6"]["address"]


@pytest.fixture(scope="module")
def own_address(addresses):
    return addresses[0]


def container(host):
    """(id, start time) of the service's container."""
    cid = host.check_output(f"{COMPOSE} ps -q zookeeper")
    return cid, host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' {cid}")


# Converge with the scenario's own settings afterwards.
original = original_values_put_back()


def test_a_client_with_a_certificate_from_the_ca_creates_and_reads_a_znode(host):
    path = znode()
    created = client(host, "create", path, "hello-tls")
    assert created.rc == 0, created.stdout + created.stderr
    read = client(host, "get", path)
    assert read.rc == 0, read.stdout + read.stderr
    assert "hello-tls" in read.stdout.splitlines()


def test_a_client_without_a_certificate_is_refused(host):
    result = client(host, "ls", "/", keystore=None)
    assert result.rc != 0
    assert "certificate_required" in result.stdout + result.stderr


def test_a_certificate_from_another_ca_is_refused(host):
    # JSSE (ZooKeeper's client) sends no certificate that none of the
    # server's CAs issued; Python's ssl sends the one it is given.
    ours = tls_ruok(host, f"{TLS}/keystore.pem")
    assert ours == "b'imok'"
    rogue = tls_ruok(host, ROGUE_KEYSTORE)
    assert "ALERT_CERTIFICATE_UNKNOWN" in rogue


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_clients_reach_the_tls_port_on_both_address_families(host, addresses, family):
    address = addresses[0] if family == "ipv4" else addresses[1]
    assert tls_ruok(host, f"{TLS}/keystore.pem", address=address) == "b'imok'"


def test_a_client_checks_the_server_certificate_names(host):
    # 127.0.0.2 is the host too, but not a name of its certificate.
    result = client(host, "ls", "/", server=f"127.0.0.2:{PORT}")
    assert result.rc != 0
    output = result.stdout + result.stderr
    assert "No subject alternative names matching IP address 127.0.0.2" in output


def test_nothing_answers_plain_zookeeper_on_2181(host, own_address):
    for address in ("127.0.0.1", own_address):
        assert tcp(host, address, 2181, b"ruok") == "refused", address


def test_the_tls_port_does_not_speak_plain_zookeeper(host, own_address):
    assert "imok" not in tcp(host, own_address, PORT, b"ruok")


def test_admin_server_answers_on_loopback_only(host, own_address):
    assert admin(host, "ruok") == {"command": "ruok", "error": None}
    refused = admin(host, "ruok", address=own_address)
    assert "Connection refused" in refused["connect_error"]


def test_the_node_reports_standalone(host):
    assert host.check_output("zookeeper-status") == "standalone"


def test_the_log_is_read_with_docker_compose_logs(host):
    logs = host.check_output("cd /etc/zookeeper && docker compose logs --no-color zookeeper")
    assert f"binding to port 0.0.0.0/0.0.0.0:{PORT}" in logs
    assert "Started AdminServer on address 127.0.0.1, port 8080" in logs


def test_data_survives_a_new_container(host):
    path = znode()
    assert client(host, "create", path, "kept").rc == 0
    before, _ = container(host)
    host.run_test(f"{COMPOSE} up -d --force-recreate --wait zookeeper")
    assert container(host)[0] != before
    host.run_test("zookeeper-status --wait 120")
    read = client(host, "get", path)
    assert "kept" in read.stdout.splitlines(), read.stdout + read.stderr


def test_a_run_without_changes_leaves_the_container_running(host):
    before = container(host)
    output = converge(host, {})
    assert re.search(r"changed=0\b", output), output[-2000:]
    assert container(host) == before


def test_a_changed_setting_restarts_zookeeper_with_it(host, original):
    before = container(host)
    converge(host, {"zookeeper_tick_time": 2500})
    after = container(host)
    assert after[0] != before[0] and after[1] != before[1]
    assert admin(host, "conf")["tick_time"] == 2500
    assert host.check_output("zookeeper-status") == "standalone"


def test_an_invalid_setting_is_refused_and_the_running_config_kept(host):
    before_cfg = host.file("/etc/zookeeper/zoo.cfg").content_string
    before = container(host)
    code, output = converge_result(host, {"zookeeper_config_extra": {"maxClientCnxns": "many"}})
    assert code != 0
    # The reason, from ZooKeeper's own parser.
    assert 'For input string: "many"' in output
    assert host.file("/etc/zookeeper/zoo.cfg").content_string == before_cfg
    assert container(host) == before
