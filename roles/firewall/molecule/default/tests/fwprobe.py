"""Probes shared by the firewall tests: addresses and TCP connects."""

from __future__ import annotations

import json
import socket

from scenario import instance_host

DECLARED_PORT = 8080  # in firewall_allowed_ports (converge.yml)
UNDECLARED_PORT = 9090  # listening (prepare.yml) but not allowed
# The bookworm instance's two groups (molecule.yml): one port of each.
GROUP_PORT_ANYWHERE = 8081  # firewall_allowed_ports_sc_web, from anywhere
GROUP_PORT_FROM_PROBE = 8082  # firewall_allowed_ports_sc_stream, source_groups [sc_probe]
SSH_PORT = 22
FAMILIES = ("ipv4", "ipv6")
TIMEOUT = 3  # seconds; a dropped SYN shows up as a timeout

# Exit 0 if a TCP connection to argv[1]:argv[2] succeeds within TIMEOUT.
CONNECT = (
    "import socket, sys; "
    f"socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout={TIMEOUT}).close()"
)


def other_instance(host):
    """The other instance: sc-<role>-bookworm <-> sc-<role>-trixie."""
    name = host.backend.get_hostname()
    prefix, _, release = name.rpartition("-")
    return instance_host(f"{prefix}-{'trixie' if release == 'bookworm' else 'bookworm'}")


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


VERDICTS = {"accept", "drop", "reject", "jump", "goto", "return", "queue"}
# Accept rules of our input chain that match no port: what every host needs.
BASE_ACCEPTS = {
    "ct state ['established', 'related']",
    "meta iifname lo",
    "meta l4proto ipv6-icmp",
    "meta l4proto icmp",
}


def _operand(right) -> str | tuple:
    """An address set, prefix or plain value of an nft JSON match, comparable."""
    if isinstance(right, dict) and "set" in right:
        return tuple(sorted(_operand(item) for item in right["set"]))
    if isinstance(right, dict) and "prefix" in right:
        return f"{right['prefix']['addr']}/{right['prefix']['len']}"
    return str(right) if not isinstance(right, list) else str(sorted(right))


def _describe(match: dict) -> str:
    """A match as "ct state [...]" or "meta iifname lo"; anything else as JSON."""
    [(kind, left)] = match["left"].items() if len(match["left"]) == 1 else [("", None)]
    if isinstance(left, dict) and "key" in left:
        return f"{kind} {left['key']} {_operand(match['right'])}"
    return json.dumps(match, sort_keys=True)


def loaded_accepts(host) -> tuple[set[tuple], set[str]]:
    """What the loaded input chain accepts, read back from the kernel.

    Returns ({(proto, port, sources)}, {other accept rules}); sources is a
    sorted tuple of addresses (both families of one port merged), or
    "anywhere". A rule with any verdict but accept/drop is reported as
    other, so nothing the chain does goes unseen.
    """
    with host.sudo():
        ruleset = json.loads(host.check_output("nft -j list chain inet system_config_filter input"))
    ports: dict[tuple, set] = {}
    others = set()
    for item in ruleset["nftables"]:
        rule = item.get("rule")
        if not rule:
            continue
        verdicts = [e for e in rule["expr"] if set(e) & VERDICTS]
        matches = [e["match"] for e in rule["expr"] if "match" in e]
        if verdicts != [{"accept": None}]:
            if verdicts != [{"drop": None}]:
                others.add(json.dumps(rule["expr"], sort_keys=True))
            continue
        dport = [m for m in matches if m["left"].get("payload", {}).get("field") == "dport"]
        saddr = [m for m in matches if m["left"].get("payload", {}).get("field") == "saddr"]
        if dport and len(matches) == len(dport) + len(saddr):
            key = (dport[0]["left"]["payload"]["protocol"], int(dport[0]["right"]))
            sources = ports.setdefault(key, set())
            for match in saddr:
                operand = _operand(match["right"])
                sources.update(operand if isinstance(operand, tuple) else [operand])
            if not saddr:
                sources.add("anywhere")
            continue
        others.add(" and ".join(_describe(m) for m in matches))
    accepted = {
        (proto, port, "anywhere" if "anywhere" in sources else tuple(sorted(sources)))
        for (proto, port), sources in ports.items()
    }
    return accepted, others
