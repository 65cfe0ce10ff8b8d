"""Behaviour of the mail_relay role: root's mail reaches the infra roots.

prepare.yml runs a real SMTP server on each instance as the smarthost
stand-in (smtp_sink.py on 127.0.0.2:2525, writing every message with its
envelope to /var/spool/smtp-sink/); converge.yml relays to it and sends
root's mail to infra-root@example.org. The mail name keeps its default, the
inventory name.
"""

import re
import socket
import time
import uuid

import pytest
from scenario import instance_names

testinfra_hosts = instance_names()

SINK = "/var/spool/smtp-sink"
ROOT_ADDRESS = "infra-root@example.org"
LOOPBACK = {"127.0.0.1", "[::1]"}


def send_to_root(host):
    """Mail root as cron would (mail(1) -> sendmail); returns the subject."""
    subject = f"mail-relay-test-{uuid.uuid4()}"
    host.check_output(f"echo 'test body' | mail -s {subject} root")
    return subject


def wait_for_sink(host, subject, timeout=30):
    """The message the sink received with this subject, as a dict."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = host.run(f"grep -l -F 'Subject: {subject}' {SINK}/*.eml").stdout.split()
        if found:
            text = host.file(found[0]).content_string
            return {
                "envelope_from": re.search(r"^X-Sink-Envelope-From: (.*?)\r?$", text, re.M)[1],
                "envelope_to": re.search(r"^X-Sink-Envelope-To: (.*?)\r?$", text, re.M)[1],
                "text": text,
            }
        time.sleep(1)
    log = host.run("tail -n 5 /var/log/exim4/mainlog").stdout
    pytest.fail(f"no message '{subject}' reached the smarthost in {timeout} s; exim:\n{log}")


def eth0_address(host, family):
    out = host.check_output(f"ip -{family} -o addr show dev eth0 scope global")
    return out.split()[3].split("/")[0]


def test_mail_to_root_reaches_infra_roots_through_the_smarthost(host):
    message = wait_for_sink(host, send_to_root(host))
    assert message["envelope_to"] == ROOT_ADDRESS


def test_sender_is_root_at_the_mail_name(host):
    message = wait_for_sink(host, send_to_root(host))
    assert message["envelope_from"] == f"root@{host.backend.host}"


def test_queue_is_empty_after_delivery(host):
    wait_for_sink(host, send_to_root(host))
    deadline = time.monotonic() + 10
    while host.check_output("exim4 -bpc") != "0" and time.monotonic() < deadline:
        time.sleep(1)
    assert host.check_output("exim4 -bpc") == "0", host.check_output("exim4 -bp")


def test_exim_runs_and_starts_at_boot(host):
    exim = host.service("exim4")
    assert exim.is_running
    assert exim.is_enabled


def exim_daemons(host):
    """exim4 processes started by systemd: the SMTP listener(s)."""
    ps = host.check_output("ps -C exim4 -o pid=,ppid=").splitlines()
    return [line.split()[0] for line in ps if line.split()[1] == "1"]


def test_restart_replaces_the_daemon(host):
    """A restart (as the role's handler does) leaves one new listener and
    nothing in the panic log (an old daemon holding port 25 fills it)."""
    before = exim_daemons(host)
    host.check_output("systemctl restart exim4")
    time.sleep(2)
    after = exim_daemons(host)
    assert len(after) == 1, after
    assert after[0] not in before
    assert host.run("test -s /var/log/exim4/paniclog").rc != 0, host.file(
        "/var/log/exim4/paniclog"
    ).content_string


def test_smtp_listens_on_loopback_only(host):
    listeners = host.check_output("ss -ltnH 'sport = :25'").splitlines()
    addresses = {line.split()[3].rsplit(":", 1)[0] for line in listeners}
    assert addresses == LOOPBACK


@pytest.mark.parametrize("family", [4, 6])
def test_smtp_refuses_connections_from_the_network(host, family):
    address = eth0_address(host, family)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, 25), timeout=5).close()
