"""Security scanners' figures for running hosts: lynis, ssh-audit, testssl.sh.

For each container named (a molecule instance such as sc-base-server-trixie
kept by `molecule-all --command converge base_server`, or a local fleet
host by its container name), prints lynis' hardening index and its
remaining suggestions, the first --top of them. lynis (Debian's package)
is installed for the scan and purged afterwards unless it was there
before, so the host is left as the converge made it. --no-lynis skips it.

ssh-audit and testssl.sh run from throwaway containers (Debian 13's
packages, installed there: Debian 12's ssh-audit 2.5 does not know current
algorithms), removed at the end; nothing is installed on the hosts:

--ssh-audit: ssh-audit from a container in each host's docker network
  against the host's name, port 22. Its failures and warnings (algorithms,
  host keys, CVEs; from its JSON report) are printed per host (none
  expected: roles/sshd/README.md).
--ssh-audit-from CONTAINER: the same, but the scanner shares CONTAINER's
  network namespace (`docker run --network container:...`), so it connects
  from CONTAINER's address, and against each host's address on a network
  they share. On the local fleet only bridge may reach port 22 of the other
  hosts: --ssh-audit-from bridge01.fleet.test (bridge reaches its own port
  22 over loopback).
--testssl HOST:PORT: testssl.sh (--quiet --color 0, JSON report) from a
  container in HOST's docker network (HOST is a container name that is
  also its DNS name there, as the fleet's are) against HOST:PORT, with
  SNI HOST. Prints per target its findings of severity CRITICAL, HIGH and
  MEDIUM, the number and ids of its LOW ones, and the scanner's own
  warnings (a test it could not do). --testssl-ca PEM adds a CA to
  testssl's trust check (the local fleet's pebble root, which no browser
  trusts, so that the check judges the chain the host serves).

Figures are measured here, not asserted by a test: a new lynis release
changes the scale. Findings do not change the exit code.

    .venv/bin/python tests/perf/scan_hosts.py sc-base-server-bookworm sc-base-server-trixie
    .venv/bin/python tests/perf/scan_hosts.py --ssh-audit --top 20 NAME...
    .venv/bin/python tests/perf/scan_hosts.py --no-lynis \\
        --ssh-audit-from bridge01.fleet.test $(docker ps --format '{{.Names}}' -f name=fleet.test)
    docker cp mirror01.regiona.fleet.test:/usr/local/share/ca-certificates/fleet-pebble-root.crt \\
        /tmp/fleet-root.pem
    .venv/bin/python tests/perf/scan_hosts.py --testssl-ca /tmp/fleet-root.pem \\
        --testssl mirror01.regiona.fleet.test:443 mirror01.regiona.fleet.test:4445 \\
        --testssl mirror01.regiona.fleet.test:4447 zuul01.fleet.test:443

Exit codes: 0 every scan ran; 1 a scan failed (the message says which
host and why); 2 bad usage.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

SCANNER_IMAGE = "system-config/debian-systemd:trixie"
APT_ENV = ["env", "DEBIAN_FRONTEND=noninteractive"]
REPORT = "/var/log/lynis-report.dat"
SSH_AUDIT_SECTIONS = ("kex", "key", "enc", "mac")
TESTSSL_SHOWN = ("CRITICAL", "HIGH", "MEDIUM")
TESTSSL_CA = "/tmp/scan-hosts-ca.pem"
TARGET = re.compile(r"\A(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?P<port>[0-9]{1,5})\Z")


class ScanError(Exception):
    pass


def docker(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def tail(proc: subprocess.CompletedProcess) -> list[str]:
    return (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]


def in_host(host: str, *argv: str, timeout: int = 900) -> str:
    proc = docker("exec", host, *argv, timeout=timeout)
    if proc.returncode != 0:
        raise ScanError(f"{host}: {' '.join(argv)} failed (exit {proc.returncode}): {tail(proc)}")
    return proc.stdout


def parse_report(text: str) -> tuple[int | None, list[str]]:
    """Hardening index and suggestions ("ID: text (detail)") of lynis-report.dat."""
    index = None
    suggestions = []
    for line in text.splitlines():
        if line.startswith("hardening_index="):
            index = int(line.split("=", 1)[1])
        elif line.startswith("suggestion[]="):
            fields = line.split("=", 1)[1].split("|")
            test_id, message = fields[0], fields[1] if len(fields) > 1 else ""
            detail = fields[2] if len(fields) > 2 and fields[2] not in ("", "-") else ""
            if test_id == "LYNIS":  # "this release is old": about lynis, not the host
                continue
            suggestions.append(f"{test_id}: {message}" + (f" ({detail})" if detail else ""))
    return index, suggestions


def lynis(host: str) -> tuple[int | None, list[str]]:
    had_lynis = docker("exec", host, "dpkg-query", "-W", "lynis").returncode == 0
    if not had_lynis:
        in_host(host, *APT_ENV, "apt-get", "install", "-y", "-q", "lynis")
    try:
        in_host(host, "lynis", "audit", "system", "--quick", "--no-colors")
        return parse_report(in_host(host, "cat", REPORT))
    finally:
        if not had_lynis:
            docker("exec", host, *APT_ENV, "apt-get", "purge", "-y", "-q", "lynis")
            docker("exec", host, "rm", "-f", REPORT, "/var/log/lynis.log")


def networks(host: str) -> dict[str, dict]:
    """The container's docker networks, each with its settings (IPAddress...)."""
    proc = docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", host)
    if proc.returncode != 0:
        raise ScanError(f"{host}: no such container ({proc.stderr.strip()})")
    return json.loads(proc.stdout) or {}


def address_seen_from(host: str, source: str) -> str:
    """host's IPv4 address on a docker network that source is in too."""
    shared = [net for name, net in networks(host).items() if name in networks(source)]
    if not shared or not shared[0].get("IPAddress"):
        raise ScanError(f"{host}: no IPv4 address on a network of {source}")
    return shared[0]["IPAddress"]


class Scanner:
    """A throwaway trixie container with Debian's packages of the scanners.

    network is a docker network name or `container:NAME` (NAME's network
    namespace, so its address and firewall rules). It is removed on exit.
    """

    def __init__(self, network: str, packages: tuple[str, ...]) -> None:
        self.network = network
        self.packages = packages
        self.name = f"scan-hosts-{os.getpid()}-{re.sub(r'[^A-Za-z0-9.-]', '-', network)}"

    def __enter__(self) -> Scanner:
        proc = docker(
            "run", "--detach", "--rm", "--name", self.name, "--network", self.network,
            "--entrypoint", "sleep", SCANNER_IMAGE, "infinity",
        )  # fmt: skip
        if proc.returncode != 0:
            raise ScanError(f"scanner in {self.network}: docker run failed: {tail(proc)}")
        try:
            self.check("apt-get", "update", "-q")
            self.check(*APT_ENV, "apt-get", "install", "-y", "-q", *self.packages)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        docker("rm", "--force", self.name)

    def run(self, *argv: str, timeout: int = 900) -> subprocess.CompletedProcess:
        return docker("exec", self.name, *argv, timeout=timeout)

    def check(self, *argv: str, timeout: int = 900) -> str:
        proc = self.run(*argv, timeout=timeout)
        if proc.returncode != 0:
            raise ScanError(
                f"scanner in {self.network}: {' '.join(argv)} failed"
                f" (exit {proc.returncode}): {tail(proc)}"
            )
        return proc.stdout

    def copy_in(self, source: Path, dest: str) -> None:
        proc = docker("cp", str(source), f"{self.name}:{dest}")
        if proc.returncode != 0:
            raise ScanError(f"scanner: cannot copy {source}: {tail(proc)}")


def parse_ssh_audit(report: dict) -> list[str]:
    """ssh-audit's failures and warnings ("fail kex NAME: why") of its JSON report."""
    findings = []
    for section in SSH_AUDIT_SECTIONS:
        for algorithm in report.get(section) or []:
            notes = algorithm.get("notes") or {}
            name = algorithm["algorithm"]
            for level in ("fail", "warn"):
                findings += [f"{level} {section} {name}: {note}" for note in notes.get(level, [])]
    for cve in report.get("cves") or []:
        findings.append(f"fail cve {cve.get('name')}: {cve.get('description', '')}")
    return findings


def ssh_audit(scanner: Scanner, target: str, label: str) -> list[str]:
    # Exit 0 only when nothing is flagged; the JSON report says what is.
    proc = scanner.run("ssh-audit", "--json", target, timeout=300)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise ScanError(f"{label}: ssh-audit {target} printed no report: {tail(proc)}") from None
    findings = parse_ssh_audit(report)
    if proc.returncode != 0 and not findings:
        findings.append(f"ssh-audit exit {proc.returncode} with nothing flagged in its report")
    return findings


def parse_testssl(entries: list[dict]) -> dict[str, list[str]]:
    """testssl.sh's JSON findings by severity, each "id: finding"."""
    by_severity: dict[str, list[str]] = {}
    for entry in entries:
        if entry.get("id") == "engine_problem":  # no GOST in Debian's openssl: about the scanner
            continue
        line = f"{entry.get('id')}: {entry.get('finding', '')}"
        by_severity.setdefault(str(entry.get("severity", "")).upper(), []).append(line)
    return by_severity


def testssl(scanner: Scanner, target: str, with_ca: bool) -> dict[str, list[str]]:
    jsonfile = f"/tmp/scan-hosts-{re.sub(r'[^A-Za-z0-9.-]', '-', target)}.json"
    scanner.run("rm", "-f", jsonfile)
    extra = ["--add-ca", TESTSSL_CA] if with_ca else []
    proc = scanner.run(
        "testssl", "--quiet", "--color", "0", "--warnings", "batch",
        "--jsonfile", jsonfile, *extra, target, timeout=1800,
    )  # fmt: skip
    report = scanner.run("cat", jsonfile)
    try:
        entries = json.loads(report.stdout)
    except json.JSONDecodeError:
        raise ScanError(
            f"{target}: testssl.sh wrote no report (exit {proc.returncode}): {tail(proc)}"
        ) from None
    by_severity = parse_testssl(entries)
    warnings = by_severity.get("WARN", [])
    if "FATAL" in by_severity or any(w.startswith("scanTime: Scan interrupted") for w in warnings):
        raise ScanError(f"{target}: testssl.sh stopped: {by_severity.get('FATAL', warnings)}")
    return by_severity


def low_summary(lines: list[str]) -> str:
    """LOW findings' ids, the offered ciphers flagged one by one counted as one."""
    ids = [line.split(":", 1)[0] for line in lines]
    ciphers = [i for i in ids if i.startswith("cipher-")]
    rest = [i for i in ids if not i.startswith("cipher-")]
    return ", ".join(rest + ([f"{len(ciphers)} ciphers (cipher-*)"] if ciphers else []))


def target(value: str) -> str:
    match = TARGET.match(value)
    if not match or not 0 < int(match["port"]) < 65536:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {value!r}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scan_hosts", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("hosts", nargs="*", help="containers to scan with lynis and ssh-audit")
    parser.add_argument(
        "--top", type=int, default=12, help="lynis suggestions shown per host (default: 12)"
    )
    parser.add_argument("--no-lynis", action="store_true", help="do not run lynis on the hosts")
    parser.add_argument(
        "--ssh-audit",
        action="store_true",
        help="run ssh-audit against each host's port 22, from its docker network",
    )
    parser.add_argument(
        "--ssh-audit-from",
        metavar="CONTAINER",
        help="run ssh-audit from CONTAINER's network namespace (address, firewall rules)"
        " against each host's address",
    )
    parser.add_argument(
        "--testssl",
        metavar="HOST:PORT",
        nargs="+",
        type=target,
        action="extend",
        default=[],
        help="run testssl.sh against these TLS ports, from HOST's docker network"
        " (name hosts before it)",
    )
    parser.add_argument(
        "--testssl-ca",
        metavar="PEM",
        type=Path,
        help="a CA certificate testssl.sh trusts besides its own stores",
    )
    args = parser.parse_args(argv)
    args.testssl = list(dict.fromkeys(args.testssl))
    ssh = args.ssh_audit or args.ssh_audit_from
    if not args.testssl and not (args.hosts and (ssh or not args.no_lynis)):
        parser.error("nothing to scan: name hosts (lynis, --ssh-audit...) or --testssl targets")
    if args.hosts and not ssh and args.no_lynis:
        parser.error("hosts named but --no-lynis and no --ssh-audit/--ssh-audit-from")
    if args.ssh_audit and args.ssh_audit_from:
        parser.error("--ssh-audit and --ssh-audit-from are exclusive")
    if args.testssl_ca and not args.testssl_ca.is_file():
        parser.error(f"--testssl-ca: no such file: {args.testssl_ca}")
    return args


def scan_hosts(args: argparse.Namespace, scanners: contextlib.ExitStack) -> int:
    status = 0
    ssh_scanners: dict[str, Scanner] = {}
    for host in args.hosts:
        try:
            if not args.no_lynis:
                index, suggestions = lynis(host)
                print(f"{host}: lynis hardening index {index}, {len(suggestions)} suggestions")
                for suggestion in suggestions[: args.top]:
                    print(f"  {suggestion}")
            if args.ssh_audit_from:
                network = f"container:{args.ssh_audit_from}"
                address = address_seen_from(host, args.ssh_audit_from)
            elif args.ssh_audit:
                network, address = next(iter(networks(host)), ""), host
                if not network:
                    raise ScanError(f"{host}: in no docker network")
            else:
                continue
            if network not in ssh_scanners:
                ssh_scanners[network] = scanners.enter_context(Scanner(network, ("ssh-audit",)))
            findings = ssh_audit(ssh_scanners[network], address, host)
            print(f"{host}: ssh-audit {address}: {count(findings)}")
            for finding in findings:
                print(f"  {finding}")
        except (ScanError, subprocess.TimeoutExpired) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


def count(findings: list[str]) -> str:
    levels = Counter(finding.split(" ", 1)[0] for finding in findings)
    other = len(findings) - levels["fail"] - levels["warn"]
    return f"{levels['fail']} failures, {levels['warn']} warnings" + (
        f", {other} unexplained" if other else ""
    )


def scan_tls(args: argparse.Namespace, scanners: contextlib.ExitStack) -> int:
    """testssl.sh against every target, all at once (it mostly waits on the network)."""
    status = 0
    tls_scanners: dict[str, Scanner] = {}
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for tls_target in args.testssl:
            try:
                host = tls_target.rpartition(":")[0]
                network = next(iter(networks(host)), "")
                if not network:
                    raise ScanError(f"{host}: in no docker network")
                if network not in tls_scanners:
                    scanner = scanners.enter_context(Scanner(network, ("testssl.sh",)))
                    if args.testssl_ca:
                        scanner.copy_in(args.testssl_ca, TESTSSL_CA)
                    tls_scanners[network] = scanner
                with_ca = bool(args.testssl_ca)
                jobs[tls_target] = pool.submit(testssl, tls_scanners[network], tls_target, with_ca)
            except (ScanError, subprocess.TimeoutExpired) as exc:
                print(f"error: {exc}", file=sys.stderr)
                status = 1
        for tls_target, job in jobs.items():
            try:
                found = job.result()
            except (ScanError, subprocess.TimeoutExpired) as exc:
                print(f"error: {exc}", file=sys.stderr)
                status = 1
                continue
            counts = ", ".join(f"{len(found.get(sev, []))} {sev}" for sev in TESTSSL_SHOWN)
            print(f"{tls_target}: testssl {counts}, {len(found.get('LOW', []))} LOW")
            for sev in TESTSSL_SHOWN:
                for line in found.get(sev, []):
                    print(f"  {sev} {line}")
            if found.get("LOW"):
                print(f"  LOW {low_summary(found['LOW'])}")
            for line in found.get("WARN", []):
                print(f"  scanner warning {line}")
    return status


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    status = 0
    with contextlib.ExitStack() as scanners:
        try:
            status |= scan_hosts(args, scanners)
            status |= scan_tls(args, scanners)
        except (ScanError, subprocess.TimeoutExpired) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
