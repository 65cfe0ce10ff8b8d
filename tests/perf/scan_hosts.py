"""Security scanners' figures for running hosts: lynis, and ssh-audit.

For each container named (a molecule instance such as sc-base-server-trixie
kept by `molecule-all --command converge base_server`, or a local fleet
host by its container name), prints lynis' hardening index and its
remaining suggestions, the first --top of them. lynis (Debian's package)
is installed for the scan and purged afterwards unless it was there
before, so the host is left as the converge made it.

With --ssh-audit, Debian 13's ssh-audit (Debian 12's 2.5 does not know
current algorithms) runs from a throwaway trixie container in the host's
docker network against its port 22 and its failures and warnings are
printed (none expected: roles/sshd/README.md).

Figures are measured here, not asserted by a test: a new lynis release
changes the scale.

    .venv/bin/python tests/perf/scan_hosts.py sc-base-server-bookworm sc-base-server-trixie
    .venv/bin/python tests/perf/scan_hosts.py --ssh-audit --top 20 NAME...

Exit codes: 0 every host scanned; 1 a scan failed (the message says
which host and why); 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

SCANNER_IMAGE = "system-config/debian-systemd:trixie"
APT_ENV = ["env", "DEBIAN_FRONTEND=noninteractive"]
REPORT = "/var/log/lynis-report.dat"


class ScanError(Exception):
    pass


def docker(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def in_host(host: str, *argv: str, timeout: int = 900) -> str:
    proc = docker("exec", host, *argv, timeout=timeout)
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise ScanError(f"{host}: {' '.join(argv)} failed (exit {proc.returncode}): {detail}")
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


def networks(host: str) -> list[str]:
    proc = docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", host)
    if proc.returncode != 0:
        raise ScanError(f"{host}: no such container ({proc.stderr.strip()})")
    return list(json.loads(proc.stdout))


def ssh_audit(host: str) -> list[str]:
    """ssh-audit's fail and warn lines for host:22, from a throwaway trixie container."""
    script = (
        "apt-get update -q >/dev/null && "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q ssh-audit >/dev/null && "
        f"ssh-audit --no-colors {host}; true"
    )
    proc = docker(
        "run",
        "--rm",
        "--network",
        networks(host)[0],
        "--entrypoint",
        "sh",
        SCANNER_IMAGE,
        "-c",
        script,
    )
    if "# general" not in proc.stdout:
        raise ScanError(f"{host}: ssh-audit printed no report: {proc.stderr.strip()[-300:]}")
    return [line.strip() for line in proc.stdout.splitlines() if re.match(r"\((fail|warn)\)", line)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scan_hosts", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("hosts", nargs="+", help="container names to scan")
    parser.add_argument(
        "--top", type=int, default=12, help="suggestions shown per host (default: 12)"
    )
    parser.add_argument(
        "--ssh-audit", action="store_true", help="also run ssh-audit against port 22"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    status = 0
    for host in args.hosts:
        try:
            index, suggestions = lynis(host)
            print(f"{host}: lynis hardening index {index}, {len(suggestions)} suggestions")
            for suggestion in suggestions[: args.top]:
                print(f"  {suggestion}")
            if args.ssh_audit:
                findings = ssh_audit(host)
                print(f"{host}: ssh-audit {len(findings)} failures and warnings")
                for finding in findings:
                    print(f"  {finding}")
        except (ScanError, subprocess.TimeoutExpired) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
