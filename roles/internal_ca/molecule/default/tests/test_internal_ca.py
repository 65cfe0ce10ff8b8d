"""Behaviour of the internal_ca role: a CA on the controller, a certificate per host.

converge.yml applies the role twice on each instance, as the ZooKeeper and
Zuul playbooks do: /etc/zookeeper/tls owned by the numeric ids 10002 (no
such user or group on the host) and /etc/zuul/tls owned by zuul (made in
prepare.yml). The CA and the host keys live on the test host, in the
scenario's ephemeral directory. public_v4/public_v6 are the instance's
addresses, so the certificate carries the role's default names: the host
name and both addresses.
"""

import datetime
import hashlib
import ipaddress
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from scenario import converge_result, instance_host, instance_names

testinfra_hosts = instance_names()

CA_DIR = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "internal-ca"
# Each destination of converge.yml with the owner and group it installs for.
DESTS = {
    "/etc/zookeeper/tls": {"uid": 10002, "gid": 10002},
    "/etc/zuul/tls": {"user": "zuul", "group": "zuul"},
}
ZOOKEEPER, ZUUL = DESTS
PUBLIC = {"ca.pem", "cert.pem"}
PRIVATE = {"key.pem", "keystore.pem"}
TLS_PORT = 4433


def hostname(host):
    return host.backend.get_hostname()


def addresses(host):
    """The instance's global IPv4 and IPv6 addresses (public_v4, public_v6)."""
    found = []
    for family in ("-4", "-6"):
        out = host.check_output(f"ip {family} -o addr show dev eth0 scope global")
        found.append(ipaddress.ip_address(re.search(r"inet6? ([^/ ]+)/", out).group(1)))
    return found


def certificate(host, dest=ZOOKEEPER):
    return x509.load_pem_x509_certificate(host.file(f"{dest}/cert.pem").content)


def subject_alt_names(cert):
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        sorted(san.get_values_for_type(x509.DNSName)),
        sorted(san.get_values_for_type(x509.IPAddress), key=str),
    )


def snapshot(instances):
    """sha256, owner and mode of every installed file, and every file in the CA directory."""
    digests = {
        hostname(instance): instance.check_output(
            f"find {' '.join(DESTS)} -printf '%p %u %g %m\\n' -type f -exec sha256sum {{}} +"
        )
        for instance in instances
    }
    for path in sorted(CA_DIR.rglob("*")):
        digests[str(path)] = (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        )
    return digests


def converge(extra_vars):
    """converge.yml on every instance at once, with extra variables.

    Returns the exit code, each host's changed count from the recap, and the output.
    """
    rc, output = converge_result("all", extra_vars)
    changed = {
        name: int(count)
        for name, count in re.findall(r"^\W*(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", output, re.M)
    }
    assert sorted(changed) == sorted(testinfra_hosts), output
    return rc, changed, output


def failure_messages(output):
    """What the failed tasks said (from each fatal/failed line to the next task), on one line."""
    failures = re.findall(r"^.*(?:fatal|failed): \[.*(?:\n(?!TASK|PLAY).*)*", output, re.M)
    return " ".join(" ".join(failures).split())


@pytest.fixture(scope="module")
def instances():
    """Every instance, for the tests that converge them all again at once."""
    return [instance_host(name) for name in testinfra_hosts]


@pytest.fixture
def other(host):
    """The other instance, which plays the client."""
    (name,) = [h for h in testinfra_hosts if h != hostname(host)]
    return instance_host(name)


@pytest.fixture
def tls_server(host):
    """openssl s_server on keystore.pem, requiring a client certificate from ca.pem."""
    pid = host.check_output(
        f"openssl s_server -accept {TLS_PORT} -www -cert {ZOOKEEPER}/keystore.pem"
        f" -CAfile {ZOOKEEPER}/ca.pem -Verify 1 -verify_return_error"
        " >/tmp/internal-ca-s_server.log 2>&1 </dev/null & echo $!"
    )
    try:
        host.run_test(
            "for i in $(seq 100); do"
            f" ss -Hltn 'sport = :{TLS_PORT}' | grep -q . && exit 0; sleep 0.1;"
            " done; exit 1"
        )
        yield
    finally:
        host.run(f"kill {pid}")


@pytest.mark.parametrize("dest", DESTS)
@pytest.mark.parametrize("purpose", ["sslserver", "sslclient"])
def test_certificate_verifies_against_the_ca(host, dest, purpose):
    cmd = host.run(f"openssl verify -CAfile {dest}/ca.pem -purpose {purpose} {dest}/cert.pem")
    assert cmd.rc == 0, cmd.stdout + cmd.stderr


def test_certificate_names_the_host_and_its_addresses(host):
    assert subject_alt_names(certificate(host)) == (
        [hostname(host)],
        sorted(addresses(host), key=str),
    )


def test_certificate_is_for_tls_servers_and_clients_only(host):
    cert = certificate(host)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize("dest", DESTS)
def test_key_matches_certificate(host, dest):
    key_pub = host.check_output(f"openssl pkey -pubout -in {dest}/key.pem")
    cert_pub = host.check_output(f"openssl x509 -noout -pubkey -in {dest}/cert.pem")
    assert key_pub == cert_pub


@pytest.mark.parametrize("dest", DESTS)
def test_keystore_is_the_key_then_the_certificate(host, dest):
    keystore = host.file(f"{dest}/keystore.pem").content_string
    key = host.file(f"{dest}/key.pem").content_string
    assert key.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, what ZooKeeper reads
    assert keystore == key + host.file(f"{dest}/cert.pem").content_string


@pytest.mark.parametrize("dest", DESTS)
@pytest.mark.parametrize("name", sorted(PUBLIC | PRIVATE))
def test_installed_file_has_the_configured_owner_and_mode(host, dest, name):
    f = host.file(f"{dest}/{name}")
    for attribute, expected in DESTS[dest].items():
        assert getattr(f, attribute) == expected, attribute
    assert f.mode == (0o640 if name in PRIVATE else 0o644)


@pytest.mark.parametrize("dest", DESTS)
@pytest.mark.parametrize("name", sorted(PRIVATE))
def test_private_file_is_not_readable_by_other_users(host, dest, name):
    probe = host.run(f"runuser -u nobody -- cat {dest}/{name}")
    assert probe.rc != 0
    assert "Permission denied" in probe.stderr


def test_every_destination_holds_the_same_key_and_certificate(host):
    controller = CA_DIR / "hosts" / hostname(host)
    for name, source in (
        ("ca.pem", CA_DIR / "ca.pem"),
        ("cert.pem", controller / "cert.pem"),
        ("key.pem", controller / "key.pem"),
    ):
        expected = source.read_text()
        for dest in DESTS:
            assert host.file(f"{dest}/{name}").content_string == expected, f"{dest}/{name}"


def test_controller_keeps_the_ca_and_the_keys_private(host):
    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    for directory in (CA_DIR, CA_DIR / "hosts", CA_DIR / "hosts" / hostname(host)):
        assert mode(directory) == 0o700, directory
    for key in (CA_DIR / "ca-key.pem", CA_DIR / "hosts" / hostname(host) / "key.pem"):
        assert mode(key) == 0o600, key


@pytest.mark.parametrize("target", ["name", "ipv4", "ipv6"])
def test_tls_server_on_the_keystore_accepts_a_client_trusting_only_the_ca(
    host, other, tls_server, target
):
    # The server uses ZooKeeper's files on this host; the client, on the
    # other host, Zuul's files there: its own certificate and ca.pem alone.
    ipv4, ipv6 = addresses(host)
    connect, check = {
        "name": (hostname(host), f"-verify_hostname {hostname(host)}"),
        "ipv4": (str(ipv4), f"-verify_ip {ipv4}"),
        "ipv6": (f"[{ipv6}]", f"-verify_ip {ipv6}"),
    }[target]
    client = other.run(
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n'"
        " | timeout 30 openssl s_client -quiet -verify_return_error"
        f" -connect {connect}:{TLS_PORT} {check} -CAfile {ZUUL}/ca.pem"
        f" -cert {ZUUL}/cert.pem -key {ZUUL}/key.pem"
    )
    assert client.rc == 0, client.stderr
    assert client.stdout.startswith("HTTP/1.0 200 ok"), client.stdout + client.stderr


# The tests below converge every instance again at once, with other values.


def test_certificate_is_reissued_once_when_due_and_once_when_its_names_change(instances):
    # Three converges prove both triggers and that neither fires twice:
    # 1. internal_ca_renew_days just beyond what the certificates have left:
    #    they are due and reissued; their successors get 100 days more.
    # 2. The same values plus an alias in internal_ca_names: the successors
    #    are not due, so only the changed names reissue them, same CA.
    # 3. The same values again: nothing is due and the names match: no change.
    ca_files = {p: p.read_bytes() for p in (CA_DIR / "ca.pem", CA_DIR / "ca-key.pem")}
    before = {hostname(i): certificate(i) for i in instances}
    now = datetime.datetime.now(datetime.UTC)
    left = max((cert.not_valid_after_utc - now).days for cert in before.values())
    due = {"internal_ca_renew_days": left + 1, "internal_ca_valid_days": left + 101}
    rc, changed, output = converge(due)
    assert rc == 0, output
    for instance in instances:
        old, new = before[hostname(instance)], certificate(instance)
        assert new.serial_number != old.serial_number
        lifetime = new.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
        assert abs(lifetime - datetime.timedelta(days=left + 101)) < datetime.timedelta(hours=2)
        assert subject_alt_names(new) == subject_alt_names(old)

    renewed = {hostname(i): certificate(i) for i in instances}
    # An alias next to the default names (extra vars are templated per host).
    alias = "zk.internal-ca.test"
    names = {
        **due,
        "internal_ca_names": f"{{{{ [inventory_hostname, public_v4, public_v6, '{alias}'] }}}}",
    }
    rc, changed, output = converge(names)
    assert rc == 0, output
    for instance in instances:
        cert = certificate(instance)
        assert cert.serial_number != renewed[hostname(instance)].serial_number
        assert subject_alt_names(cert) == (
            sorted([hostname(instance), alias]),
            sorted(addresses(instance), key=str),
        )
        assert certificate(instance, ZUUL) == cert
        verify = instance.run(f"openssl verify -CAfile {ZUUL}/ca.pem {ZUUL}/cert.pem")
        assert verify.rc == 0, verify.stdout + verify.stderr
        for dest in DESTS:
            assert instance.file(f"{dest}/ca.pem").content == ca_files[CA_DIR / "ca.pem"]
    assert {p: p.read_bytes() for p in ca_files} == ca_files

    reissued = {hostname(i): certificate(i) for i in instances}
    rc, changed, output = converge(names)
    assert rc == 0, output
    assert set(changed.values()) == {0}, output
    assert {hostname(i): certificate(i) for i in instances} == reissued


def test_ca_certificate_without_its_key_is_refused(instances):
    # A new CA key could not sign for the CA that every host trusts.
    key = CA_DIR / "ca-key.pem"
    kept = CA_DIR.parent / "ca-key.pem.kept"
    shutil.move(key, kept)
    try:
        before = snapshot(instances)
        rc, changed, output = converge({})
        assert rc != 0, output
        assert "ca.pem exists but ca-key.pem does not" in failure_messages(output), output
        assert set(changed.values()) == {0}, output
        assert not key.exists()
        assert snapshot(instances) == before
    finally:
        shutil.move(kept, key)
