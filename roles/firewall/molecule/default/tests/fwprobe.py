"""Probes shared by the firewall tests: addresses and TCP connects."""

from __future__ import annotations

import json
import os
import socket

import testinfra

DECLARED_PORT = 8080  # in firewall_allowed_ports (converge.yml)
UNDECLARED_PORT = 9090  # listening (prepare.yml) but not allowed
SSH_PORT = 22
FAMILIES = ("ipv4", "ipv6")
TIMEOUT = 3  # seconds; a dropped SYN shows up as a timeout

# Exit 0 if a TCP connection to argv[1]:argv[2] succeeds within TIMEOUT.
CONNECT = (
    "import socket, sys; "
    f"socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout={TIMEOUT}).close()"
)


def instance(name: str):
    """The testinfra host of a molecule instance, by inventory name."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")


def other_instance(host):
    """The other instance: sc-<role>-bookworm <-> sc-<role>-trixie."""
    name = host.backend.get_hostname()
    prefix, _, release = name.rpartition("-")
    return instance(f"{prefix}-{'trixie' if release == 'bookworm' else 'bookworm'}")


def release(host) -> str:
    return host.backend.get_hostname().rpartition("-")[2]


def address(host, family: str) -> str:
    """The instance's global address of the family on eth0."""
    flag = "-4" if family == "ipv4" else "-6"
    out = host.check_output(f"ip -j {flag} addr show dev eth0 scope global")
    return json.loads(out)[0]["addr_info"][0]["local"]


def connects_from(prober, ip: str, port: int) -> bool:
    """True if `prober` (a testinfra host) opens a TCP connection to ip:port."""
    return prober.run("python3 -c %s %s %s", CONNECT, ip, str(port)).rc == 0


def connects_from_test_host(ip: str, port: int) -> bool:
    """True if this machine (outside every allowlist) opens a TCP connection."""
    try:
        socket.create_connection((ip, port), timeout=TIMEOUT).close()
    except OSError:
        return False
    return True
