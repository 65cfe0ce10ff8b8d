"""What the fleet tests share: the fleet, running `fleet`, commands on hosts."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import yaml

from sctools import REPO_ROOT
from sctools import fleet as fleet_tool

FLEET = fleet_tool.load_fleet()
BRIDGE = FLEET.bridge
HOSTS = {h.name: h for h in FLEET.hosts}
# The stand-ins for the outside world are in `disabled`: no playbook
# manages them, so the base checks do not apply to them.
DISABLED = fleet_tool.inventory_group("disabled")
MANAGED = [h for h in FLEET.hosts if h.name not in DISABLED]


def run_fleet(command: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "sctools.fleet", command],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - start
    print(f"\n$ fleet {command}  ({seconds:.0f} s)\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc, seconds


def on(host: fleet_tool.Host, script: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "exec", host.name, "bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(condition, what: str, seconds: int = 300) -> None:
    """Poll a condition (not a number of seconds) until it holds; fail naming it."""
    assert fleet_tool.poll(condition, seconds, interval=0.5), f"{what}: not within {seconds} s"


def lock_record_pid(lock_file: str = "/run/run-all.lock") -> int | None:
    """The pid run-all's lock record on bridge names (it may be a killed run's)."""
    text = on(BRIDGE, f"cat {lock_file} 2>/dev/null").stdout
    match = re.match(r"pid (\d+) started", text)
    return int(match[1]) if match else None


def alive(pid: int) -> bool:
    """Whether a process of that pid runs on bridge."""
    return on(BRIDGE, f"kill -0 {pid}").returncode == 0


def zuul_d_jobs(pipeline: str) -> set[str]:
    """The jobs zuul.d gives opendev/system-config in a pipeline (every project stanza)."""
    jobs = set()
    for path in sorted((REPO_ROOT / "zuul.d").glob("*.yaml")):
        for item in yaml.safe_load(path.read_text()) or []:
            project = item.get("project")
            if project and project.get("name", "opendev/system-config") == "opendev/system-config":
                for entry in project.get(pipeline, {}).get("jobs", []):
                    # A name, or {name: the pipeline's variant} (file matchers).
                    jobs.update([entry] if isinstance(entry, str) else entry)
    return jobs


# A connection to an open port on the fleet's network answers at once; a
# port the firewall drops never answers, so a closed port costs the whole
# wait. bash's /dev/tcp takes a bare IPv6 address (no brackets).
PROBE_SECONDS = 4


def tcp_connects(source: fleet_tool.Host, address: str, port: int) -> bool:
    """Whether source opens a TCP connection to address:port within PROBE_SECONDS."""
    return tcp_probes([(source, address, port)])[(source.name, address, port)]


def tcp_probes(probes: list[tuple[fleet_tool.Host, str, int]]) -> dict[tuple[str, str, int], bool]:
    """Many tcp_connects at once: {(source name, address, port): connected}.

    One shell per source runs all its probes side by side, so the probes of
    closed ports wait once, together, instead of one after the other.
    """
    results: dict[tuple[str, str, int], bool] = {}
    by_source: dict[str, list[tuple[str, int]]] = {}
    hosts = {}
    for source, address, port in probes:
        by_source.setdefault(source.name, []).append((address, port))
        hosts[source.name] = source
    for name, targets in by_source.items():
        script = "".join(
            f"(timeout {PROBE_SECONDS} bash -c '</dev/tcp/{a}/{p}' 2>/dev/null"
            f" && echo 'open {a} {p}' || echo 'closed {a} {p}') &\n"
            for a, p in targets
        )
        result = on(hosts[name], script + "wait\n", timeout=60 + PROBE_SECONDS)
        seen = {}
        for line in result.stdout.splitlines():
            state, address, port = line.split()
            seen[(name, address, int(port))] = state == "open"
        missing = [t for t in targets if (name, *t) not in seen]
        assert not missing, f"probes from {name} gave no answer for {missing}: {result.stderr}"
        results.update(seen)
    return results
