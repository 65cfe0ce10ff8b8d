"""Behaviour of the acme_certificates role against pebble.

prepare.yml runs, on every instance, pebble (ACME server, real http-01
validation through pebble-challtestsrv's DNS and a webroot server on port 80)
and two dummy services that record their reloads; converge.yml asks for two
certificates: "web" (reloads acme-test-web) and "mail" (reloads
acme-test-mail).
"""

import pytest
from scenario import instance_names

testinfra_hosts = instance_names()

DIR = "/etc/ssl/acme"
GROUP = "ssl-cert"
CERTS = {
    "web": ["web.acme-test.example", "www.acme-test.example"],
    "mail": ["mail.acme-test.example"],
}
PEBBLE_ROOT = "/tmp/pebble-root.pem"


def serial(host, name):
    return host.check_output(f"openssl x509 -noout -serial -in {DIR}/{name}/cert.pem")


def reloads(host, unit):
    path = f"/var/lib/acme-test/{unit}.reloads"
    f = host.file(path)
    return len(f.content_string.splitlines()) if f.exists else 0


@pytest.fixture
def pebble_root(host):
    """pebble's current root, from its management port."""
    host.check_output(
        f"curl -sf --cacert /etc/pebble/tls/ca.pem -o {PEBBLE_ROOT} https://localhost:15000/roots/0"
    )
    return PEBBLE_ROOT


@pytest.mark.parametrize("name", sorted(CERTS))
def test_certificate_names_the_declared_domains(host, name):
    out = host.check_output(f"openssl x509 -noout -ext subjectAltName -in {DIR}/{name}/cert.pem")
    found = sorted(p.strip()[len("DNS:") :] for p in out.splitlines()[1].split(","))
    assert found == sorted(CERTS[name])


@pytest.mark.parametrize("name", sorted(CERTS))
def test_chain_verifies_against_pebble_root(host, name, pebble_root):
    cmd = host.run(
        f"openssl verify -CAfile {pebble_root} -untrusted {DIR}/{name}/chain.pem "
        f"{DIR}/{name}/cert.pem"
    )
    assert cmd.rc == 0, cmd.stdout + cmd.stderr


@pytest.mark.parametrize("name", sorted(CERTS))
def test_fullchain_is_cert_then_chain(host, name):
    d = f"{DIR}/{name}"
    full = host.file(f"{d}/fullchain.pem").content_string
    assert full == (
        host.file(f"{d}/cert.pem").content_string + host.file(f"{d}/chain.pem").content_string
    )


@pytest.mark.parametrize("name", sorted(CERTS))
def test_key_matches_certificate(host, name):
    d = f"{DIR}/{name}"
    key_pub = host.check_output(f"openssl pkey -pubout -in {d}/privkey.pem")
    cert_pub = host.check_output(f"openssl x509 -noout -pubkey -in {d}/cert.pem")
    assert key_pub == cert_pub


@pytest.mark.parametrize("name", sorted(CERTS))
def test_key_readable_only_by_root_and_cert_group(host, name):
    d = host.file(f"{DIR}/{name}")
    key = host.file(f"{DIR}/{name}/privkey.pem")
    assert (d.user, d.group, d.mode) == ("root", GROUP, 0o750)
    assert (key.user, key.group, key.mode) == ("root", GROUP, 0o640)


def test_cert_group_member_reads_key_others_cannot(host):
    host.run("useradd --system --no-create-home acme-test-other || true")
    host.run(f"useradd --system --no-create-home -G {GROUP} acme-test-member || true")
    key = f"{DIR}/web/privkey.pem"
    assert host.run(f"runuser -u acme-test-member -- cat {key}").rc == 0
    assert host.run(f"runuser -u acme-test-other -- cat {key}").rc != 0


def test_renewal_timer_is_enabled_and_active(host):
    timer = host.service("acme-certificates-renew.timer")
    assert timer.is_enabled
    assert timer.is_running


def test_timer_run_keeps_certificates_not_due(host):
    before = {n: serial(host, n) for n in CERTS}
    runs = (reloads(host, "acme-test-web"), reloads(host, "acme-test-mail"))
    host.check_output("systemctl start acme-certificates-renew.service")
    assert (
        host.check_output("systemctl show -P Result acme-certificates-renew.service") == "success"
    )
    assert {n: serial(host, n) for n in CERTS} == before
    assert (reloads(host, "acme-test-web"), reloads(host, "acme-test-mail")) == runs


def test_forced_renewal_gives_new_serial(host):
    before = serial(host, "mail")
    host.check_output("acme-certificates-renew --force mail")
    assert serial(host, "mail") != before


def test_forced_renewal_reloads_only_its_own_service(host):
    web, mail = reloads(host, "acme-test-web"), reloads(host, "acme-test-mail")
    host.check_output("acme-certificates-renew --force web")
    assert reloads(host, "acme-test-web") == web + 1
    assert reloads(host, "acme-test-mail") == mail


def test_renewed_certificate_still_verifies(host, pebble_root):
    host.check_output("acme-certificates-renew --force web")
    cmd = host.run(
        f"openssl verify -CAfile {pebble_root} -untrusted {DIR}/web/chain.pem {DIR}/web/cert.pem"
    )
    assert cmd.rc == 0, cmd.stdout + cmd.stderr


def test_dehydrated_keeps_its_keys_private(host):
    out = host.check_output(
        "find /var/lib/dehydrated/certs /var/lib/dehydrated/accounts "
        "-type f -name '*.pem' -path '*key*' -perm /077"
    )
    assert out == ""
